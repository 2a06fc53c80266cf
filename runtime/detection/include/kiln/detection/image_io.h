// Image files for detection: probing an encoded PNG/JPEG's size without decoding it (dataset_convert checks every
// box against it) and decoding it to 8-bit pixels (the detection loader). Errors name the image.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::detection {

struct ImageInfo {
  int width = 0, height = 0, channels = 0;  // channels as stored: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
};

// DataError "<name>: not a PNG or JPEG image (<reason>)" when the bytes are not a readable image.
ImageInfo probe_image(const std::string& bytes, const std::string& name);

// Decodes to HWC uint8 with `channels` 1 or 3 (grey is replicated to RGB; RGB becomes grey by luma; alpha dropped).
std::vector<uint8_t> decode_image(const std::string& bytes, const std::string& name, int channels, ImageInfo* info);

}  // namespace kiln::detection
