// Deterministic randomness for detection (synthetic scenes, augmentation): a sequential splitmix64 stream over the
// data pipeline's mix function (data/hash.h), with the few distributions detection needs. std:: distributions are
// implementation-defined; these are the same on every platform, so a seed means the same bytes everywhere.
#pragma once
#include <cstdint>

#include "kiln/common/hash.h"

namespace kiln::detection::detail {

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() { return bytes::mix64(state += bytes::kGolden); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int range(int lo, int hi) {  // [lo, hi]
    return lo + static_cast<int>(bytes::scale_to(next(), static_cast<uint64_t>(hi - lo + 1)));
  }
  // Approximately standard normal: the sum of four 16-bit uniforms (Irwin-Hall), rescaled to unit variance.
  float gauss() {
    const uint64_t r = next();
    const float s = static_cast<float>((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48));
    return (s / 65536.f - 2.f) * 1.7320508f;
  }
};

}  // namespace kiln::detection::detail
