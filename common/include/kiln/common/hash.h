// Deterministic randomness for the data pipeline. std::shuffle and std:: distributions are implementation-defined,
// so a seed would give different orders on different standard libraries; these functions are fully specified
// (docs/formats.md, "Sampler order and augmentation randomness") and identical everywhere.
#pragma once
#include <cstdint>

namespace kiln::bytes {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// splitmix64's finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Counter-based: the i-th value of stream `key`, so any draw is available without generating the ones before it.
inline uint64_t draw(uint64_t key, uint64_t i) { return mix64(key + (i + 1) * kGolden); }

// Maps a uniform 64-bit value to [0, range) by multiply-high (Lemire); bias is below 2^-32 for ranges < 2^32.
inline uint64_t scale_to(uint64_t x, uint64_t range) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * range) >> 64);
}

// The augmentation key of one sample: distinct (seed, epoch, index) triples give unrelated keys.
inline uint64_t sample_key(uint64_t seed, int64_t epoch, uint64_t index) {
  return mix64(mix64(mix64(seed) + static_cast<uint64_t>(epoch)) + index);
}

// Sequential splitmix64 generator for the sampler's Fisher–Yates shuffle.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_ += kGolden); }
  // Unbiased integer in [0, range) (Lemire's rejection method); range > 0.
  uint64_t below(uint64_t range) {
    unsigned __int128 m = static_cast<unsigned __int128>(next()) * range;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < range) {
      const uint64_t threshold = (0 - range) % range;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(next()) * range;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  uint64_t state_;
};

}  // namespace kiln::bytes
