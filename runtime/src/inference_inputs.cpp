// Classification inference's inputs (docs/inference.md): -i listed as image files (a folder searched recursively,
// sorted) or the records of an IDX images file, the annotated-image names, and the inputs as a data::Dataset that
// the evaluation loader reads; image files are decoded with stb_image.
#include "inference_inputs.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "kiln/common/byte_io.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/png_check.h"

// stb_image, compiled into this file with internal linkage (kiln_data has its own stb_image; the two never meet).
#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO  // files are read by us, so errors name the path with errno's reason
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#include <stb/stb_image.h>
#endif
#include "kiln/common/third_party_end.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace detail {

struct IdxImages {
  std::string path;
  std::vector<uint8_t> bytes;  // the whole (inflated) file
  size_t offset = 16, n = 0;
  int height = 0, width = 0;
  const uint8_t* record(size_t i) const { return bytes.data() + offset + i * static_cast<size_t>(height) * width; }
};

namespace {

constexpr uint32_t kIdxImagesMagic = 0x00000803;
constexpr uint32_t kIdxLabelsMagic = 0x00000801;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_image_name(const fs::path& p) {
  const std::string ext = lower(p.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Fashion-MNIST/MNIST style names: t10k-images-idx3-ubyte(.gz), images.idx(.gz), images.idx3(.gz).
bool is_idx_name(const fs::path& p) {
  std::string name = lower(p.filename().string());
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  return ends_with(name, ".idx") || ends_with(name, ".idx3") || ends_with(name, "-ubyte");
}

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

std::shared_ptr<const IdxImages> read_idx_images(const std::string& path) {
  auto f = std::make_shared<IdxImages>();
  f->path = path;
  f->bytes = bytes::read_maybe_gzip(path);
  if (f->bytes.size() < 16)
    throw DataError(path + ": truncated: a " + std::to_string(f->bytes.size()) +
                    "-byte file has no IDX images header (16 bytes)");
  const uint32_t magic = bytes::load_u32_be(f->bytes.data());
  if (magic == kIdxLabelsMagic)
    throw DataError(path + ": is an IDX labels file; -i needs the IDX images file (e.g. t10k-images-idx3-ubyte.gz)");
  if (magic != kIdxImagesMagic) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", magic);
    throw DataError(path + ": bad magic " + hex + ", expected 0x00000803 (IDX images file)");
  }
  f->n = bytes::load_u32_be(f->bytes.data() + 4);
  const uint32_t h = bytes::load_u32_be(f->bytes.data() + 8);
  const uint32_t w = bytes::load_u32_be(f->bytes.data() + 12);
  if (h == 0 || w == 0 || h > 65535 || w > 65535)
    throw DataError(path + ": implausible image size " + std::to_string(h) + "x" + std::to_string(w));
  f->height = static_cast<int>(h), f->width = static_cast<int>(w);
  const size_t image_bytes = static_cast<size_t>(h) * w, have = f->bytes.size() - f->offset;
  if (have / image_bytes < f->n)
    throw DataError(path + ": truncated: header says " + std::to_string(f->n) + " images of " + std::to_string(h) +
                    "x" + std::to_string(w) + " but data ends after " + std::to_string(have / image_bytes) +
                    " images");
  if (have > f->n * image_bytes)
    throw DataError(path + ": " + std::to_string(have - f->n * image_bytes) + " unexpected bytes after the " +
                    std::to_string(f->n) + " images the header declares");
  if (f->n == 0) throw DataError(path + ": contains no images");
  return f;
}

// Annotated names: the relative path with its extension replaced by .png, unless two inputs would then share a
// name (a.jpg next to a.png): those keep their extension in front of .png.
void name_annotations(std::vector<InferenceItem>& items, const std::vector<fs::path>& rel) {
  std::map<std::string, int> uses;
  for (const auto& r : rel) ++uses[fs::path(r).replace_extension(".png").generic_string()];
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string plain = fs::path(rel[i]).replace_extension(".png").generic_string();
    items[i].annotated = uses[plain] > 1 && lower(rel[i].extension().string()) != ".png"
                             ? rel[i].generic_string() + ".png"
                             : plain;
  }
}

// Decodes an image file as stb does for evaluation's image folders: `channels` 1 or 3 (grey→RGB replicates,
// RGB→grey is luma, alpha is dropped). Returns HWC pixels.
struct Decoded {
  std::unique_ptr<uint8_t, void (*)(void*)> pixels{nullptr, stbi_image_free};
  int height = 0, width = 0;
};

Decoded decode_image(const std::string& path, int channels) {
  const std::string bytes = kiln::read_file(path);
  if (bytes.size() > static_cast<size_t>(INT_MAX)) throw DataError(path + ": image file larger than 2 GiB");
  verify_png_checksums(bytes, path);
  Decoded d;
  int comps = 0;
  d.pixels.reset(stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                       &d.width, &d.height, &comps, channels));
  if (!d.pixels) throw DataError(path + ": cannot decode image: " + stbi_failure_reason());
  return d;
}

}  // namespace

InputSet open_inputs(const std::string& input, const std::string& exclude_dir) {
  if (input.empty()) throw UsageError("inference needs its input: -i <image, folder of images, or IDX file>");
  InputSet set;
  std::error_code ec;
  const fs::file_status st = fs::status(input, ec);
  if (!fs::exists(st)) throw DataError(input + ": no such file or directory (-i)");
  if (fs::is_directory(st)) {
    const fs::path root(input);
    fs::path exclude;
    if (!exclude_dir.empty() && fs::exists(exclude_dir, ec)) exclude = fs::weakly_canonical(exclude_dir, ec);
    std::vector<fs::path> rel;
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (ec) throw DataError(input + ": cannot list folder: " + ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) throw DataError(input + ": cannot list folder: " + ec.message());
      const fs::path& p = it->path();
      const bool dir = it->is_directory(ec);
      // Hidden entries are skipped (macOS leaves undecodable "._name.png" companions), and so is the output
      // folder when it lies inside the input folder, so a rerun does not classify its own annotated images.
      if (is_hidden(p) || (dir && !exclude.empty() && fs::weakly_canonical(p, ec) == exclude)) {
        if (dir) it.disable_recursion_pending();
        continue;
      }
      if (!dir && it->is_regular_file(ec) && is_image_name(p)) rel.push_back(p.lexically_relative(root));
    }
    if (rel.empty())
      throw DataError(input + ": no .png/.jpg/.jpeg images in this folder or its sub-folders (-i)");
    std::sort(rel.begin(), rel.end(), [](const fs::path& a, const fs::path& b) {
      return a.generic_string() < b.generic_string();
    });
    for (const auto& r : rel) {
      InferenceItem item;
      item.source = item.column = (root / r).string();
      set.items.push_back(std::move(item));
    }
    name_annotations(set.items, rel);
    return set;
  }
  if (!fs::is_regular_file(st)) throw DataError(input + ": not a regular file or a directory (-i)");
  if (is_idx_name(input)) {
    set.idx = read_idx_images(input);
    for (size_t i = 0; i < set.idx->n; ++i) {
      InferenceItem item;
      item.source = input;
      item.idx_index = static_cast<int64_t>(i);
      item.column = input + "#" + std::to_string(i);
      item.annotated = std::to_string(i) + ".png";
      set.items.push_back(std::move(item));
    }
    return set;
  }
  if (!is_image_name(input))
    throw DataError(input + ": not an image (.png/.jpg/.jpeg), an IDX images file (.idx, .idx3 or -ubyte, "
                    "optionally .gz) or a folder (-i)");
  InferenceItem item;
  item.source = item.column = input;
  set.items.push_back(std::move(item));
  name_annotations(set.items, {fs::path(input).filename()});
  return set;
}

InferenceDataset::InferenceDataset(InputSet inputs, data::ImageShape shape, std::vector<std::string> names)
    : items_(std::move(inputs.items)), idx_(std::move(inputs.idx)), shape_(shape), names_(std::move(names)) {
  if (idx_ && (idx_->height != shape_.height || idx_->width != shape_.width))
    throw DataError(idx_->path + ": images are " + std::to_string(idx_->height) + "x" + std::to_string(idx_->width) +
                    " (HxW) but the model expects " + std::to_string(shape_.height) + "x" +
                    std::to_string(shape_.width) + " (its input is " + shape_.str() + ")");
}

int64_t InferenceDataset::get(size_t i, uint8_t* pixels) const {
  const InferenceItem& it = items_.at(i);
  const size_t plane = static_cast<size_t>(shape_.height) * shape_.width;
  if (idx_) {  // grey records; a 3-channel model sees them replicated, as stb does for grey image files
    for (int c = 0; c < shape_.channels; ++c)
      std::memcpy(pixels + c * plane, idx_->record(static_cast<size_t>(it.idx_index)), plane);
    return 0;
  }
  const Decoded d = decode_image(it.source, shape_.channels);
  check_size(it.source, d.height, d.width);
  const int c = shape_.channels;
  for (int ch = 0; ch < c; ++ch) {
    uint8_t* dst = pixels + ch * plane;
    const uint8_t* src = d.pixels.get() + ch;
    for (size_t p = 0; p < plane; ++p) dst[p] = src[p * c];
  }
  return 0;
}

RgbImage InferenceDataset::rgb(size_t i) const {
  const InferenceItem& it = items_.at(i);
  if (idx_) return rgb_from_chw(idx_->record(static_cast<size_t>(it.idx_index)), 1, idx_->height, idx_->width);
  RgbImage img;
  const Decoded d = decode_image(it.source, 3);
  check_size(it.source, d.height, d.width);
  img.height = d.height, img.width = d.width;
  img.pixels.assign(d.pixels.get(), d.pixels.get() + static_cast<size_t>(d.height) * d.width * 3);
  return img;
}

// As evaluation's image folders: no resizing; an image of another size is an error naming it.
void InferenceDataset::check_size(const std::string& path, int height, int width) const {
  if (height != shape_.height || width != shape_.width)
    throw DataError(path + ": image is " + std::to_string(height) + "x" + std::to_string(width) +
                    " (HxW) but the model expects " + std::to_string(shape_.height) + "x" +
                    std::to_string(shape_.width) + " (its input is " + shape_.str() +
                    "); kiln does not resize: resize the image or use a model trained at its size");
}

}  // namespace detail

std::vector<InferenceItem> list_inference_inputs(const std::string& input, const std::string& exclude_dir) {
  return detail::open_inputs(input, exclude_dir).items;
}

}  // namespace kiln::runtime
