// IDX files (the MNIST / Fashion-MNIST format): big-endian header, then raw uint8 data. Both files are loaded into
// memory once (47 MB for Fashion-MNIST's training set) so get() is a memcpy and needs no locking.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "kiln/common/byte_io.h"
#include "kiln/common/error.h"
#include "kiln/data/dataset.h"

namespace kiln::data {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte data, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte data, 1 dimension
constexpr int kMinClasses = 10;

const std::vector<std::string>& fashion_mnist_names() {
  static const std::vector<std::string> names{"t_shirt", "trouser", "pullover", "dress", "coat",
                                              "sandal",  "shirt",   "sneaker",  "bag",   "ankle_boot"};
  return names;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Classes are numbered 0..N-1 by their labels, so a label past a class that no record has is taken for a corrupt
// byte (one label of 200 would otherwise make a 201-class model): names the first record with such a label. Classes
// below kMinClasses may be empty (a subset of MNIST's ten).
void check_label_numbering(const std::vector<uint8_t>& labels, const std::string& path) {
  std::vector<size_t> count(256, 0);
  for (uint8_t label : labels) ++count[label];
  const int max_label = *std::max_element(labels.begin(), labels.end());
  for (int empty = kMinClasses; empty < max_label; ++empty) {
    if (count[static_cast<size_t>(empty)] > 0) continue;
    const auto record = std::find_if(labels.begin(), labels.end(), [&](uint8_t l) { return l > empty; });
    throw DataError(path + " record " + std::to_string(record - labels.begin()) + ": label " +
                    std::to_string(*record) + ", but no record has label " + std::to_string(empty) +
                    " (labels must number the classes 0..N-1; a corrupt label byte?)");
  }
}

struct IdxFile {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> dims;
  size_t data_offset = 0;
};

IdxFile read_idx(const std::string& path, uint32_t magic, const char* what) {
  IdxFile f;
  f.bytes = bytes::read_maybe_gzip(path);
  const size_t ndims = magic & 0xff;
  const size_t header = 4 + 4 * ndims;
  if (f.bytes.size() < 4) throw DataError(path + ": truncated: " + std::to_string(f.bytes.size()) + "-byte file has no IDX header");
  const uint32_t got = bytes::load_u32_be(f.bytes.data());
  if (got != magic)
    throw DataError(path + ": bad magic " + hex32(got) + ", expected " + hex32(magic) + " (IDX " + what + " file)");
  if (f.bytes.size() < header)
    throw DataError(path + ": truncated: IDX header needs " + std::to_string(header) + " bytes, file has " +
                    std::to_string(f.bytes.size()));
  for (size_t d = 0; d < ndims; ++d) f.dims.push_back(bytes::load_u32_be(f.bytes.data() + 4 + 4 * d));
  f.data_offset = header;
  return f;
}

class IdxDataset final : public Dataset {
 public:
  IdxDataset(std::string images_path, IdxFile images, std::vector<uint8_t> labels, size_t n, int h, int w,
             std::vector<std::string> names)
      : images_path_(std::move(images_path)), images_(std::move(images)), labels_(std::move(labels)), n_(n),
        shape_{1, h, w}, names_(std::move(names)) {}

  size_t size() const override { return n_; }
  ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return names_; }

  int64_t get(size_t i, uint8_t* pixels) const override {
    if (i >= n_) throw DataError(describe(i) + ": record out of range (dataset has " + std::to_string(n_) + ")");
    std::memcpy(pixels, images_.bytes.data() + images_.data_offset + i * shape_.bytes(), shape_.bytes());
    return labels_[i];
  }

  std::string describe(size_t i) const override { return images_path_ + "#" + std::to_string(i); }

 private:
  std::string images_path_;
  IdxFile images_;
  std::vector<uint8_t> labels_;
  size_t n_;
  ImageShape shape_;
  std::vector<std::string> names_;
};

}  // namespace

std::unique_ptr<Dataset> open_idx(const std::string& images_path, const std::string& labels_path, size_t limit,
                                  bool fashion_names) {
  IdxFile images = read_idx(images_path, kImagesMagic, "images");
  const size_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  if (h == 0 || w == 0 || h > 65535 || w > 65535)
    throw DataError(images_path + ": implausible image size " + std::to_string(h) + "x" + std::to_string(w));
  const size_t image_bytes = h * w;
  const size_t have = images.bytes.size() - images.data_offset;
  if (have / image_bytes < n)
    throw DataError(images_path + ": truncated: header says " + std::to_string(n) + " images of " +
                    std::to_string(h) + "x" + std::to_string(w) + " but data ends after " +
                    std::to_string(have / image_bytes) + " images");
  if (have > n * image_bytes)
    throw DataError(images_path + ": " + std::to_string(have - n * image_bytes) + " unexpected bytes after the " +
                    std::to_string(n) + " images the header declares");

  IdxFile labels = read_idx(labels_path, kLabelsMagic, "labels");
  const size_t n_labels = labels.dims[0];
  const size_t have_labels = labels.bytes.size() - labels.data_offset;
  if (have_labels < n_labels)
    throw DataError(labels_path + ": truncated: header says " + std::to_string(n_labels) +
                    " labels but data ends after " + std::to_string(have_labels) + " labels");
  if (have_labels > n_labels)
    throw DataError(labels_path + ": " + std::to_string(have_labels - n_labels) +
                    " unexpected bytes after the " + std::to_string(n_labels) + " labels the header declares");
  if (n_labels != n)
    throw DataError(images_path + " has " + std::to_string(n) + " images but " + labels_path + " has " +
                    std::to_string(n_labels) + " labels");
  if (n == 0) throw DataError(images_path + ": contains no images");

  std::vector<uint8_t> label_values(labels.bytes.begin() + static_cast<std::ptrdiff_t>(labels.data_offset),
                                    labels.bytes.end());
  // Classes come from the whole file (not the `limit` prefix) so a subset has the same label space as the full set.
  check_label_numbering(label_values, labels_path);
  const int max_label = *std::max_element(label_values.begin(), label_values.end());
  const int num_classes = std::max(max_label + 1, kMinClasses);
  std::vector<std::string> names;
  if (fashion_names && num_classes == kMinClasses) {
    names = fashion_mnist_names();
  } else {
    for (int c = 0; c < num_classes; ++c) names.push_back(std::to_string(c));
  }
  const size_t kept = limit > 0 ? std::min(limit, n) : n;
  label_values.resize(kept);
  return std::make_unique<IdxDataset>(images_path, std::move(images), std::move(label_values), kept,
                                      static_cast<int>(h), static_cast<int>(w), std::move(names));
}

void write_idx_images(const std::string& path, const std::vector<uint8_t>& pixels, size_t n, int h, int w) {
  if (h <= 0 || w <= 0 || pixels.size() != n * static_cast<size_t>(h) * static_cast<size_t>(w))
    throw Error(path + ": write_idx_images: " + std::to_string(pixels.size()) + " bytes is not " + std::to_string(n) +
                " images of " + std::to_string(h) + "x" + std::to_string(w));
  std::string bytes;
  bytes.reserve(16 + pixels.size());
  bytes::store_u32_be(bytes, kImagesMagic);
  bytes::store_u32_be(bytes, static_cast<uint32_t>(n));
  bytes::store_u32_be(bytes, static_cast<uint32_t>(h));
  bytes::store_u32_be(bytes, static_cast<uint32_t>(w));
  bytes.append(reinterpret_cast<const char*>(pixels.data()), pixels.size());
  bytes::write_bytes_maybe_gzip(path, bytes);
}

void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels) {
  std::string bytes;
  bytes.reserve(8 + labels.size());
  bytes::store_u32_be(bytes, kLabelsMagic);
  bytes::store_u32_be(bytes, static_cast<uint32_t>(labels.size()));
  bytes.append(reinterpret_cast<const char*>(labels.data()), labels.size());
  bytes::write_bytes_maybe_gzip(path, bytes);
}

}  // namespace kiln::data
