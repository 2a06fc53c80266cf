// Internal helpers of the data pipeline: whole-file reads with transparent gzip, gzip compression, fixed-width
// integer encoding and CRC32. Every error names the file it concerns.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::bytes {

// Reads `path` completely; inflates it when it starts with the gzip magic (1f 8b), whatever its name.
// Throws DataError naming the file for a missing file, corrupt or truncated gzip data.
std::vector<uint8_t> read_maybe_gzip(const std::string& path);

// gzip-wrapped deflate of `data` (a complete .gz file image).
std::string gzip_compress(const uint8_t* data, size_t size);

// Writes `bytes` to `path` atomically, gzip-compressed when `path` ends in ".gz".
void write_bytes_maybe_gzip(const std::string& path, const std::string& bytes);

uint32_t crc32(const uint8_t* data, size_t size);

inline uint32_t load_u32_be(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline void store_u32_be(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Shard files are little-endian, encoded byte by byte so the format does not depend on the host.
template <typename T>
inline void store_le(uint8_t* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i));
}
template <typename T>
inline T load_le(const uint8_t* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t{p[i]} << (8 * i);
  return static_cast<T>(v);
}

}  // namespace kiln::bytes
