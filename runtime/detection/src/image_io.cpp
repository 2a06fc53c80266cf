// PNG/JPEG probing and decoding for detection (image_io.h), with stb_image compiled into this file (static).
#include "kiln/detection/image_io.h"

#include <climits>

#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/png_check.h"

#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#if __has_include(<stb_image.h>)
#include <stb_image.h>
#else
#include <stb/stb_image.h>
#endif
#include "kiln/common/third_party_end.h"

namespace kiln::detection {
namespace {

const stbi_uc* as_uc(const std::string& s) { return reinterpret_cast<const stbi_uc*>(s.data()); }

int checked_size(const std::string& bytes, const std::string& name) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) throw DataError(name + ": image file larger than 2 GiB");
  return static_cast<int>(bytes.size());
}

}  // namespace

ImageInfo probe_image(const std::string& bytes, const std::string& name) {
  ImageInfo info;
  if (!stbi_info_from_memory(as_uc(bytes), checked_size(bytes, name), &info.width, &info.height, &info.channels))
    throw DataError(log::cat(name, ": not a PNG or JPEG image (", stbi_failure_reason(), ")"));
  return info;
}

std::vector<uint8_t> decode_image(const std::string& bytes, const std::string& name, int channels, ImageInfo* info) {
  if (channels != 1 && channels != 3) throw Error(log::cat("decode_image: channels must be 1 or 3, not ", channels));
  verify_png_checksums(bytes, name);
  int w = 0, h = 0, stored = 0;
  stbi_uc* px = stbi_load_from_memory(as_uc(bytes), checked_size(bytes, name), &w, &h, &stored, channels);
  if (!px) throw DataError(log::cat(name, ": cannot decode the image (", stbi_failure_reason(), ")"));
  std::vector<uint8_t> out(px, px + static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(channels));
  stbi_image_free(px);
  if (info) *info = {w, h, stored};
  return out;
}

}  // namespace kiln::detection
