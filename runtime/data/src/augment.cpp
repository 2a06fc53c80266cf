// Per-record augmentation, written for the loader's hot loop: one pass per output row, a 256-entry lookup table
// for the x/255 → (x-mean)/std mapping (bit-identical to computing it per pixel in float32), no allocation.
#include <algorithm>
#include <string>

#include "kiln/common/hash.h"
#include "kiln/common/error.h"
#include "kiln/data/loader.h"

namespace kiln::data {

uint64_t augmentation_key(uint64_t seed, int64_t epoch, size_t index) { return bytes::sample_key(seed, epoch, index); }

void validate_augmentation(const Augmentation& aug, int channels) {
  auto per_channel = [&](const std::vector<float>& v, const char* name) {
    if (v.size() != 1 && v.size() != static_cast<size_t>(channels))
      throw UsageError(std::string("augmentation ") + name + " has " + std::to_string(v.size()) +
                       " values; need 1 or one per channel (" + std::to_string(channels) + ")");
  };
  per_channel(aug.mean, "mean");
  per_channel(aug.std, "std");
  for (float s : aug.std)
    if (!(s > 0.f)) throw UsageError("augmentation std values must be positive, got " + std::to_string(s));
  if (aug.random_crop && aug.crop_padding < 0)
    throw UsageError("augmentation crop_padding must be >= 0, got " + std::to_string(aug.crop_padding));
}

void augment_record(const uint8_t* pixels, const ImageShape& shape, const Augmentation& aug, uint64_t rng_key,
                    float* out) {
  const int C = shape.channels, H = shape.height, W = shape.width;
  // Output pixel (y, x) reads source (y + dy, x + dx): the crop window's offset in the padded image minus the pad.
  int dy = 0, dx = 0;
  if (aug.random_crop && aug.crop_padding > 0) {
    const int p = aug.crop_padding;
    dy = static_cast<int>(bytes::scale_to(bytes::draw(rng_key, 0), 2 * p + 1)) - p;
    dx = static_cast<int>(bytes::scale_to(bytes::draw(rng_key, 1), 2 * p + 1)) - p;
  }
  const bool flip = aug.horizontal_flip && (bytes::draw(rng_key, 2) >> 63) != 0;
  // Columns x in [x0, x1) have their source inside the image; the rest are padding (raw value 0).
  const int x0 = std::clamp(-dx, 0, W), x1 = std::clamp(W - dx, 0, W);

  float lut[256];
  for (int c = 0; c < C; ++c) {
    const float mean = aug.mean.size() == 1 ? aug.mean[0] : aug.mean[static_cast<size_t>(c)];
    const float sd = aug.std.size() == 1 ? aug.std[0] : aug.std[static_cast<size_t>(c)];
    for (int v = 0; v < 256; ++v) lut[v] = (static_cast<float>(v) / 255.f - mean) / sd;
    const uint8_t* plane = pixels + static_cast<size_t>(c) * H * W;
    for (int y = 0; y < H; ++y) {
      float* row = out + (static_cast<size_t>(c) * H + y) * W;
      const int sy = y + dy;
      if (sy < 0 || sy >= H) {
        std::fill(row, row + W, lut[0]);
        continue;
      }
      const uint8_t* src = plane + static_cast<size_t>(sy) * W;
      std::fill(row, row + x0, lut[0]);
      for (int x = x0; x < x1; ++x) row[x] = lut[src[x + dx]];
      std::fill(row + x1, row + W, lut[0]);
      if (flip) std::reverse(row, row + W);
    }
  }
}

}  // namespace kiln::data
