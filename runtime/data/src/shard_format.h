// kiln shard format, version 1 (docs/formats.md is the specification; keep the two in step).
// A shard file is a 48-byte header followed by fixed-size records; index.json in the same folder lists the shards.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kiln::data::shard {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'S', 'H', 'R', 'D'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 48;
constexpr size_t kRecordHeaderBytes = 24;  // index u64, label u32, C/H/W u16 ×3, zero u16, pixel bytes u32
constexpr size_t kRecordTrailerBytes = 4;  // CRC32 of everything before it in the record
constexpr const char* kIndexName = "index.json";
constexpr const char* kFormatName = "kiln-shards";

inline size_t record_bytes(size_t pixel_bytes) { return kRecordHeaderBytes + pixel_bytes + kRecordTrailerBytes; }

inline std::string shard_name(int shard, int num_shards) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "shard-%05d-of-%05d.kshard", shard, num_shards);
  return buf;
}

struct Header {
  uint32_t version = kVersion;
  uint32_t shard = 0, num_shards = 0;
  uint32_t record_bytes = 0;
  uint64_t first_record = 0, num_records = 0;
};

// Header layout: magic[8], version u32, shard u32, num_shards u32, record_bytes u32, first_record u64,
// num_records u64, CRC32 of bytes 0..39 u32, zero u32. Little-endian.
void encode_header(const Header& h, uint8_t* out);
// Returns an empty string when valid, else what is wrong (the caller adds the file name).
std::string decode_header(const uint8_t* in, Header& h);

}  // namespace kiln::data::shard
