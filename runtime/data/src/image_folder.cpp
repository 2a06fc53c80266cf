// Image-folder datasets (TAO/Keras layout): root/<class>/<image>. The file list is built once; images are decoded
// with stb_image on each get(), so memory stays small however large the folder is.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/png_check.h"
#include "kiln/data/dataset.h"

#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO  // files are read by us, so errors name the path with errno's reason
#include <stb_image.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb_image_resize.h>
#include "kiln/common/third_party_end.h"

namespace fs = std::filesystem;

namespace kiln::data {
namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

struct Entry {
  std::string path;
  int64_t label;
};

// Keeps `limit` files spread over the classes (round robin, in order within each class) so that a quick run on a
// subset still sees every class; the result stays in (class, name) order.
std::vector<Entry> balanced_subset(const std::vector<std::vector<std::string>>& per_class, size_t limit) {
  std::vector<size_t> take(per_class.size(), 0);
  for (size_t kept = 0, round = 0; kept < limit; ++round) {
    bool any = false;
    for (size_t c = 0; c < per_class.size() && kept < limit; ++c) {
      if (round < per_class[c].size()) {
        ++take[c];
        ++kept;
        any = true;
      }
    }
    if (!any) break;
  }
  std::vector<Entry> out;
  for (size_t c = 0; c < per_class.size(); ++c)
    for (size_t k = 0; k < take[c]; ++k) out.push_back({per_class[c][k], static_cast<int64_t>(c)});
  return out;
}

// `hwc` (w×h, `c` interleaved channels) resized to to_w×to_h: a tent filter, i.e. bilinear when enlarging and
// area-weighted (antialiased) when shrinking, edges clamped, on the stored values (no sRGB conversion) — as TAO's
// bilinear resize to input_image_size, without its aliasing when shrinking a lot.
std::vector<uint8_t> resize_image(const uint8_t* hwc, int w, int h, int c, int to_w, int to_h,
                                  const std::string& path) {
  std::vector<uint8_t> out(static_cast<size_t>(to_w) * to_h * c);
  if (!stbir_resize_uint8_generic(hwc, w, h, 0, out.data(), to_w, to_h, 0, c, STBIR_ALPHA_CHANNEL_NONE, 0,
                                  STBIR_EDGE_CLAMP, STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr))
    throw DataError(path + ": cannot resize the image to " + std::to_string(to_h) + "x" + std::to_string(to_w));
  return out;
}

class ImageFolderDataset final : public Dataset {
 public:
  ImageFolderDataset(std::vector<Entry> entries, std::vector<std::string> names, ImageShape shape, bool resize)
      : entries_(std::move(entries)), names_(std::move(names)), shape_(shape), resize_(resize) {}

  size_t size() const override { return entries_.size(); }
  ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string describe(size_t i) const override {
    return i < entries_.size() ? entries_[i].path : "image folder record " + std::to_string(i);
  }

  int64_t get(size_t i, uint8_t* pixels) const override {
    if (i >= entries_.size())
      throw DataError(describe(i) + ": out of range (dataset has " + std::to_string(entries_.size()) + ")");
    const std::string& path = entries_[i].path;
    const std::string bytes = kiln::read_file(path);
    verify_png_checksums(bytes, path);
    int w = 0, h = 0, comps = 0;
    // stb converts channels for us: grey→RGB replicates, RGB→grey is luma (77R+150G+29B)/256, alpha is dropped.
    uint8_t* hwc = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                         &w, &h, &comps, shape_.channels);
    if (!hwc) throw DataError(path + ": cannot decode image: " + stbi_failure_reason());
    std::unique_ptr<uint8_t, void (*)(void*)> owner(hwc, stbi_image_free);
    std::vector<uint8_t> resized;
    if (h != shape_.height || w != shape_.width) {
      if (!resize_)
        throw DataError(path + ": image is " + std::to_string(h) + "x" + std::to_string(w) +
                        " (HxW) but the dataset expects " + std::to_string(shape_.height) + "x" +
                        std::to_string(shape_.width) + " (resize: false)");
      resized = resize_image(hwc, w, h, shape_.channels, shape_.width, shape_.height, path);
      hwc = resized.data();
      h = shape_.height, w = shape_.width;
    }
    const size_t plane = static_cast<size_t>(h) * w;
    const int c = shape_.channels;
    for (int ch = 0; ch < c; ++ch) {
      uint8_t* dst = pixels + ch * plane;
      const uint8_t* src = hwc + ch;
      for (size_t p = 0; p < plane; ++p) dst[p] = src[p * c];
    }
    return entries_[i].label;
  }

 private:
  std::vector<Entry> entries_;
  std::vector<std::string> names_;
  ImageShape shape_;
  bool resize_;
};

ImageShape infer_shape(const std::string& path, int channels) {
  const std::string bytes = kiln::read_file(path);
  int w = 0, h = 0, comps = 0;
  if (!stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                             &comps))
    throw DataError(path + ": cannot decode image: " + stbi_failure_reason());
  return ImageShape{channels, h, w};
}

}  // namespace

std::unique_ptr<Dataset> open_image_folder(const std::string& root, const ImageShape& expected, size_t limit,
                                           bool resize) {
  if (expected.channels < 1 || expected.channels > 4)
    throw UsageError(root + ": image folder channels must be 1..4, got " + std::to_string(expected.channels));
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw DataError(root + ": image folder root does not exist or is not a directory");

  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory() && e.path().filename().string()[0] != '.') names.push_back(e.path().filename().string());
  if (ec) throw DataError(root + ": cannot list image folder: " + ec.message());
  if (names.empty()) throw DataError(root + ": image folder has no class sub-folders");
  std::sort(names.begin(), names.end());

  std::vector<std::vector<std::string>> per_class(names.size());
  size_t total = 0;
  for (size_t c = 0; c < names.size(); ++c) {
    const fs::path dir = fs::path(root) / names[c];
    for (const auto& e : fs::directory_iterator(dir, ec))
      // Hidden files are skipped: macOS leaves undecodable "._name.png" companions in copied folders.
      if (e.is_regular_file() && is_image_file(e.path()) && e.path().filename().string()[0] != '.')
        per_class[c].push_back(e.path().string());
    if (ec) throw DataError(dir.string() + ": cannot list class folder: " + ec.message());
    std::sort(per_class[c].begin(), per_class[c].end());
    total += per_class[c].size();
  }
  if (total == 0) throw DataError(root + ": image folder has no .png/.jpg/.jpeg files in its " +
                                  std::to_string(names.size()) + " class folders");

  std::vector<Entry> entries = balanced_subset(per_class, limit > 0 ? std::min(limit, total) : total);
  ImageShape shape = expected;
  // A zero height or width means "whatever the first image is"; every other image must then match it.
  if (shape.height <= 0 || shape.width <= 0) shape = infer_shape(entries.front().path, expected.channels);
  return std::make_unique<ImageFolderDataset>(std::move(entries), std::move(names), shape, resize);
}

}  // namespace kiln::data
