// dataset_convert's output: every shard is written through atomic_write (temp file, fsync, rename) and index.json
// goes last. An existing index is deleted first: shards are replaced one by one, and an old index left over a mix
// of old and new shards of the same size would pass every check. A failed conversion therefore leaves no index.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "kiln/common/byte_io.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/data/dataset.h"
#include "shard_format.h"

namespace fs = std::filesystem;

namespace kiln::data {
namespace {

void encode_record(size_t index, int64_t label, const ImageShape& s, uint8_t* rec, size_t pixel_bytes) {
  bytes::store_le<uint64_t>(rec, index);
  bytes::store_le<uint32_t>(rec + 8, static_cast<uint32_t>(label));
  bytes::store_le<uint16_t>(rec + 12, static_cast<uint16_t>(s.channels));
  bytes::store_le<uint16_t>(rec + 14, static_cast<uint16_t>(s.height));
  bytes::store_le<uint16_t>(rec + 16, static_cast<uint16_t>(s.width));
  bytes::store_le<uint16_t>(rec + 18, 0);
  bytes::store_le<uint32_t>(rec + 20, static_cast<uint32_t>(pixel_bytes));
  const size_t body = shard::kRecordHeaderBytes + pixel_bytes;
  bytes::store_le<uint32_t>(rec + body, bytes::crc32(rec, body));
}

// Shards of an earlier conversion with a different shard count would otherwise sit beside the new set.
void remove_stale_shards(const std::string& dir, const std::set<std::string>& keep) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("shard-", 0) == 0 && e.path().extension() == ".kshard" && !keep.count(name))
      fs::remove(e.path(), ec);
  }
}

}  // namespace

size_t write_shards(const Dataset& ds, const std::string& out_dir, int num_shards,
                    const std::function<void(size_t, size_t)>& progress) {
  if (num_shards < 1) throw UsageError("dataset_convert: num_shards must be at least 1, got " + std::to_string(num_shards));
  const size_t n = ds.size();
  if (n == 0) throw DataError(out_dir + ": refusing to write shards of an empty dataset");
  const ImageShape s = ds.shape();
  if (s.channels < 1 || s.height < 1 || s.width < 1 || s.channels > 65535 || s.height > 65535 || s.width > 65535)
    throw DataError(ds.describe(0) + ": image shape " + s.str() + " cannot be stored in a kiln shard");
  ensure_writable_dir(out_dir);
  const std::string index_path = (fs::path(out_dir) / shard::kIndexName).string();
  std::error_code ec;
  fs::remove(index_path, ec);
  if (ec) throw Error(index_path + ": cannot remove the previous index before rewriting shards: " + ec.message());

  const size_t pixel_bytes = s.bytes();
  const size_t rec_bytes = shard::record_bytes(pixel_bytes);
  const int64_t num_classes = ds.num_classes();
  std::vector<uint8_t> rec(rec_bytes);
  const size_t report_every = std::max<size_t>(1, n / 100);
  size_t done = 0;
  if (progress) progress(0, n);

  nlohmann::ordered_json shards = nlohmann::ordered_json::array();
  std::set<std::string> names;
  for (int sh = 0; sh < num_shards; ++sh) {
    // Contiguous ranges keep a shard's records in dataset order, so a sequential pass reads each file front to back.
    const size_t first = n * static_cast<size_t>(sh) / static_cast<size_t>(num_shards);
    const size_t end = n * static_cast<size_t>(sh + 1) / static_cast<size_t>(num_shards);
    const std::string name = shard::shard_name(sh, num_shards);
    names.insert(name);
    shard::Header h;
    h.shard = static_cast<uint32_t>(sh);
    h.num_shards = static_cast<uint32_t>(num_shards);
    h.record_bytes = static_cast<uint32_t>(rec_bytes);
    h.first_record = first;
    h.num_records = end - first;
    atomic_write((fs::path(out_dir) / name).string(), [&](std::ostream& out) {
      uint8_t header[shard::kHeaderBytes];
      shard::encode_header(h, header);
      out.write(reinterpret_cast<const char*>(header), sizeof header);
      for (size_t i = first; i < end; ++i) {
        const int64_t label = ds.get(i, rec.data() + shard::kRecordHeaderBytes);
        if (label < 0 || label >= num_classes)
          throw DataError(ds.describe(i) + ": label " + std::to_string(label) + " is outside the " +
                          std::to_string(num_classes) + " classes");
        encode_record(i, label, s, rec.data(), pixel_bytes);
        out.write(reinterpret_cast<const char*>(rec.data()), static_cast<std::streamsize>(rec_bytes));
        if (++done % report_every == 0 && progress) progress(done, n);
      }
    });
    shards.push_back({{"file", name},
                      {"first_record", first},
                      {"num_records", end - first},
                      {"bytes", shard::kHeaderBytes + (end - first) * rec_bytes}});
  }

  const nlohmann::ordered_json index = {{"format", shard::kFormatName},
                                {"version", shard::kVersion},
                                {"image_shape", {s.channels, s.height, s.width}},
                                {"class_names", ds.class_names()},
                                {"num_records", n},
                                {"header_bytes", shard::kHeaderBytes},
                                {"record_bytes", rec_bytes},
                                {"shards", shards}};
  atomic_write_string(index_path, index.dump(2) + "\n");
  remove_stale_shards(out_dir, names);
  if (progress && done % report_every != 0) progress(n, n);
  return n;
}

}  // namespace kiln::data
