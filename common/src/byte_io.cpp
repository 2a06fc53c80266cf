#include "kiln/common/byte_io.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"

namespace kiln::bytes {
namespace {

bool is_gzip(const std::string& raw) {
  return raw.size() >= 2 && static_cast<uint8_t>(raw[0]) == 0x1f && static_cast<uint8_t>(raw[1]) == 0x8b;
}

std::vector<uint8_t> gunzip(const std::string& path, const std::string& raw) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw DataError(path + ": cannot initialise zlib");
  std::vector<uint8_t> out;
  // The gzip trailer's ISIZE is the uncompressed size mod 2^32: a good first guess that avoids regrowing.
  size_t guess = raw.size() * 2;
  if (raw.size() >= 8) {
    uint32_t isize = 0;
    std::memcpy(&isize, raw.data() + raw.size() - 4, 4);  // little-endian on every host kiln targets
    // Deflate cannot expand beyond ~1032:1, so a corrupt trailer cannot make us allocate absurd amounts.
    guess = std::max<size_t>(guess, std::min<size_t>(isize, raw.size() * 1032));
  }
  out.resize(guess + 1);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  size_t in_left = raw.size();
  size_t produced = 0;
  int rc = Z_OK;
  while (true) {
    if (produced == out.size()) out.resize(out.size() * 2);
    const uInt in_chunk = static_cast<uInt>(std::min<size_t>(in_left, UINT_MAX));
    const uInt out_chunk = static_cast<uInt>(std::min<size_t>(out.size() - produced, UINT_MAX));
    zs.avail_in = in_chunk;
    zs.next_out = out.data() + produced;
    zs.avail_out = out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    produced += out_chunk - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members (as `cat a.gz b.gz` makes) are one stream to gzip(1); do the same.
      if (in_left == 0) break;
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    if (rc == Z_BUF_ERROR && in_left == 0 && produced < out.size()) break;  // input ended mid-stream
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
  }
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR || rc == Z_MEM_ERROR)
    throw DataError(path + ": corrupt gzip data after " + std::to_string(produced) + " uncompressed bytes (zlib: " +
                    (msg.empty() ? "error " + std::to_string(rc) : msg) + ")");
  if (rc != Z_STREAM_END)
    throw DataError(path + ": truncated gzip stream: compressed data ends after " +
                    std::to_string(produced) + " uncompressed bytes");
  out.resize(produced);
  return out;
}

}  // namespace

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  std::string raw = kiln::read_file(path);
  if (is_gzip(raw)) return gunzip(path, raw);
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

std::string gzip_compress(const uint8_t* data, size_t size) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("zlib: deflateInit2 failed");
  std::string out(deflateBound(&zs, size) + 64, '\0');
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t written = out.size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw Error("zlib: deflate failed (" + std::to_string(rc) + ")");
  out.resize(written);
  return out;
}

void write_bytes_maybe_gzip(const std::string& path, const std::string& bytes) {
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (!gz) return atomic_write_string(path, bytes);
  atomic_write_string(path, gzip_compress(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

uint32_t crc32(const uint8_t* data, size_t size) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, UINT_MAX));
    crc = ::crc32(crc, data, chunk);
    data += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace kiln::bytes
