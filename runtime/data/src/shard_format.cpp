#include "shard_format.h"

#include <cstring>

#include "kiln/common/byte_io.h"

namespace kiln::data::shard {

void encode_header(const Header& h, uint8_t* out) {
  std::memset(out, 0, kHeaderBytes);
  std::memcpy(out, kMagic, sizeof kMagic);
  bytes::store_le<uint32_t>(out + 8, h.version);
  bytes::store_le<uint32_t>(out + 12, h.shard);
  bytes::store_le<uint32_t>(out + 16, h.num_shards);
  bytes::store_le<uint32_t>(out + 20, h.record_bytes);
  bytes::store_le<uint64_t>(out + 24, h.first_record);
  bytes::store_le<uint64_t>(out + 32, h.num_records);
  bytes::store_le<uint32_t>(out + 40, bytes::crc32(out, 40));
}

std::string decode_header(const uint8_t* in, Header& h) {
  if (std::memcmp(in, kMagic, sizeof kMagic) != 0) return "not a kiln shard (bad magic)";
  if (bytes::load_le<uint32_t>(in + 40) != bytes::crc32(in, 40)) return "header checksum mismatch";
  h.version = bytes::load_le<uint32_t>(in + 8);
  if (h.version != kVersion)
    return "shard format version " + std::to_string(h.version) + " is not supported (this kiln reads version " +
           std::to_string(kVersion) + ")";
  h.shard = bytes::load_le<uint32_t>(in + 12);
  h.num_shards = bytes::load_le<uint32_t>(in + 16);
  h.record_bytes = bytes::load_le<uint32_t>(in + 20);
  h.first_record = bytes::load_le<uint64_t>(in + 24);
  h.num_records = bytes::load_le<uint64_t>(in + 32);
  return {};
}

}  // namespace kiln::data::shard
