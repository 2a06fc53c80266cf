#include "kiln/common/png_check.h"

#include <zlib.h>

#include <cstdint>
#include <cstdio>

#include "kiln/common/error.h"

namespace kiln {
namespace {

constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";
constexpr size_t kSignatureBytes = 8;

uint32_t u32_at(const std::string& bytes, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string crc_hex(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

}  // namespace

void verify_png_checksums(const std::string& bytes, const std::string& name) {
  if (bytes.compare(0, kSignatureBytes, kPngSignature, kSignatureBytes) != 0) return;
  for (size_t at = kSignatureBytes;;) {
    if (bytes.size() - at < 12)
      throw DataError(name + ": corrupt PNG: truncated at byte " + std::to_string(at) + " (no IEND chunk)");
    const uint32_t length = u32_at(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    if (length > bytes.size() - at - 12)
      throw DataError(name + ": corrupt PNG: chunk '" + type + "' at byte " + std::to_string(at) + " claims " +
                      std::to_string(length) + " bytes, past the end of the file");
    const uint32_t stored = u32_at(bytes, at + 8 + length);
    const auto* data = reinterpret_cast<const Bytef*>(bytes.data() + at + 4);
    const uint32_t computed = static_cast<uint32_t>(::crc32(::crc32(0L, Z_NULL, 0), data, length + 4));
    if (stored != computed)
      throw DataError(name + ": corrupt PNG: CRC mismatch in chunk '" + type + "' at byte " + std::to_string(at) +
                      " (stored " + crc_hex(stored) + ", computed " + crc_hex(computed) + ")");
    if (type == "IEND") return;
    at += 12 + length;
  }
}

}  // namespace kiln
