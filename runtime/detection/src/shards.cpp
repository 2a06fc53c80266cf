// kiln detection shards, version 1 (shards.h; docs/formats.md).
// Layout (little-endian): a 56-byte header (encode_header), the records back to back (encode_record), then the
// offset table: one u64 file offset per record and a CRC32 of the table.
#include "kiln/detection/shards.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "kiln/common/byte_io.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"

namespace kiln::detection {
namespace {

namespace bio = kiln::bytes;

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'D', 'E', 'T', 'S'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 56;
constexpr size_t kRecordFixedBytes = 32;  // size u32, number u64, w/h/c/objects u16 ×4, image bytes u32, name u16+u16
constexpr size_t kObjectBytes = 28;       // class u32, x1 y1 x2 y2 truncated occluded f32
constexpr const char* kIndexName = "index.json";
constexpr const char* kFormatName = "kiln-detection-shards";

// Header: magic[8], version u32, fold u32, shard u32, num_shards u32, first_record u64, num_records u64,
// table_offset u64, CRC32 of bytes 0..47 u32, zero u32.
void encode_header(uint8_t* h, int fold, int shard, int num_shards, uint64_t first, uint64_t n, uint64_t table) {
  std::memcpy(h, kMagic, 8);
  bio::store_le<uint32_t>(h + 8, kVersion);
  bio::store_le<uint32_t>(h + 12, static_cast<uint32_t>(fold));
  bio::store_le<uint32_t>(h + 16, static_cast<uint32_t>(shard));
  bio::store_le<uint32_t>(h + 20, static_cast<uint32_t>(num_shards));
  bio::store_le<uint64_t>(h + 24, first);
  bio::store_le<uint64_t>(h + 32, n);
  bio::store_le<uint64_t>(h + 40, table);
  bio::store_le<uint32_t>(h + 48, bio::crc32(h, 48));
  bio::store_le<uint32_t>(h + 52, 0);
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::string encode_record(uint64_t number, const DetectionRecord& r) {
  if (r.width <= 0 || r.width > 65535 || r.height <= 0 || r.height > 65535 || r.channels < 0 || r.channels > 4)
    throw Error(log::cat(r.name, ": image size ", r.width, "x", r.height, "x", r.channels, " cannot be stored"));
  if (r.objects.size() > 65535) throw Error(log::cat(r.name, ": more than 65535 objects"));
  if (r.name.size() > 65535) throw Error(log::cat(r.name.substr(0, 64), "...: name longer than 65535 bytes"));
  const size_t size = kRecordFixedBytes + kObjectBytes * r.objects.size() + r.name.size() + r.image.size() + 4;
  if (size > 0xffffffffu) throw Error(log::cat(r.name, ": image of ", r.image.size(), " bytes is too large"));
  std::string out(size, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  bio::store_le<uint32_t>(p, static_cast<uint32_t>(size));
  bio::store_le<uint64_t>(p + 4, number);
  bio::store_le<uint16_t>(p + 12, static_cast<uint16_t>(r.width));
  bio::store_le<uint16_t>(p + 14, static_cast<uint16_t>(r.height));
  bio::store_le<uint16_t>(p + 16, static_cast<uint16_t>(r.channels));
  bio::store_le<uint16_t>(p + 18, static_cast<uint16_t>(r.objects.size()));
  bio::store_le<uint32_t>(p + 20, static_cast<uint32_t>(r.image.size()));
  bio::store_le<uint16_t>(p + 24, static_cast<uint16_t>(r.name.size()));
  bio::store_le<uint16_t>(p + 26, 0);
  bio::store_le<uint32_t>(p + 28, 0);
  uint8_t* o = p + kRecordFixedBytes;
  for (const ShardObject& ob : r.objects) {
    bio::store_le<uint32_t>(o, static_cast<uint32_t>(ob.class_id));
    const float v[6] = {ob.box.x1, ob.box.y1, ob.box.x2, ob.box.y2, ob.truncated, ob.occluded};
    for (int k = 0; k < 6; ++k) bio::store_le<uint32_t>(o + 4 + 4 * k, float_bits(v[k]));
    o += kObjectBytes;
  }
  std::memcpy(o, r.name.data(), r.name.size());
  o += r.name.size();
  std::memcpy(o, r.image.data(), r.image.size());
  bio::store_le<uint32_t>(p + size - 4, bio::crc32(p, size - 4));
  return out;
}

}  // namespace

std::string detection_shard_name(int fold, int num_folds, int shard, int num_shards) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "fold-%03d-of-%03d-shard-%05d-of-%05d.kdet", fold, num_folds, shard, num_shards);
  return buf;
}

void write_detection_shard(const std::string& path, int fold, int shard, int num_shards, uint64_t first_record,
                           const std::vector<DetectionRecord>& records) {
  std::string body;
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < records.size(); ++i) {
    offsets.push_back(kHeaderBytes + body.size());
    body += encode_record(first_record + i, records[i]);
  }
  const uint64_t table = kHeaderBytes + body.size();
  std::string table_bytes(8 * offsets.size() + 4, '\0');
  auto* t = reinterpret_cast<uint8_t*>(table_bytes.data());
  for (size_t i = 0; i < offsets.size(); ++i) bio::store_le<uint64_t>(t + 8 * i, offsets[i]);
  bio::store_le<uint32_t>(t + 8 * offsets.size(), bio::crc32(t, 8 * offsets.size()));
  uint8_t header[kHeaderBytes];
  encode_header(header, fold, shard, num_shards, first_record, records.size(), table);
  atomic_write(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(header), kHeaderBytes);
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.write(table_bytes.data(), static_cast<std::streamsize>(table_bytes.size()));
  });
}

void write_detection_index(const std::string& dir, const DetectionIndex& index) {
  nlohmann::json j;
  j["format"] = kFormatName;
  j["version"] = kVersion;
  j["classes"] = index.classes;
  j["source"] = index.source;
  j["ignored_objects"] = index.ignored_objects;
  j["folds"] = nlohmann::json::array();
  for (const FoldInfo& f : index.folds) {
    nlohmann::json jf;
    jf["images"] = f.images;
    jf["objects"] = f.objects;
    jf["shards"] = nlohmann::json::array();
    for (const ShardFile& s : f.shards) jf["shards"].push_back({{"file", s.file}, {"records", s.records}});
    j["folds"].push_back(jf);
  }
  atomic_write_string((std::filesystem::path(dir) / kIndexName).string(), j.dump(2) + "\n");
}

DetectionIndex read_detection_index(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kIndexName).string();
  if (!file_exists(path))
    throw DataError(log::cat(dir, ": no ", kIndexName, " (not a folder written by detectnet_v2 dataset_convert)"));
  const std::string text = read_file(path);
  DetectionIndex index;
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (j.at("format").get<std::string>() != kFormatName)
      throw DataError(log::cat(path, ": format is '", j.at("format").get<std::string>(), "', expected '", kFormatName,
                               "'"));
    if (j.at("version").get<uint32_t>() != kVersion)
      throw DataError(log::cat(path, ": version ", j.at("version").get<uint32_t>(), " (this kiln reads ", kVersion,
                               ")"));
    index.classes = j.at("classes").get<std::vector<std::string>>();
    index.source = j.value("source", std::string());
    index.ignored_objects = j.value("ignored_objects", std::map<std::string, uint64_t>());
    for (const auto& jf : j.at("folds")) {
      FoldInfo f;
      f.images = jf.at("images").get<uint64_t>();
      f.objects = jf.at("objects").get<std::map<std::string, uint64_t>>();
      for (const auto& js : jf.at("shards")) f.shards.push_back({js.at("file").get<std::string>(), js.at("records")});
      index.folds.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    throw DataError(log::cat(path, ": malformed index: ", e.what()));
  }
  return index;
}

// ---- Reading ----

namespace {

void pread_all(int fd, uint8_t* buf, size_t n, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw DataError(log::cat(path, ": read failed: ", std::strerror(errno)));
    if (got == 0) throw DataError(log::cat(path, ": truncated (ends at byte ", offset + done, ")"));
    done += static_cast<size_t>(got);
  }
}

}  // namespace

DetectionShardReader::DetectionShardReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw DataError(log::cat(path, ": cannot open: ", std::strerror(errno)));
  try {
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    file_size_ = end < 0 ? 0 : static_cast<uint64_t>(end);
    uint8_t h[kHeaderBytes];
    if (file_size_ < kHeaderBytes) throw DataError(log::cat(path, ": truncated (", file_size_, " bytes, no header)"));
    pread_all(fd_, h, kHeaderBytes, 0, path);
    if (std::memcmp(h, kMagic, 8) != 0) throw DataError(log::cat(path, ": not a kiln detection shard (bad magic)"));
    if (bio::load_le<uint32_t>(h + 48) != bio::crc32(h, 48)) throw DataError(log::cat(path, ": header CRC mismatch"));
    if (bio::load_le<uint32_t>(h + 8) != kVersion)
      throw DataError(log::cat(path, ": version ", bio::load_le<uint32_t>(h + 8), " (this kiln reads ", kVersion, ")"));
    first_record_ = bio::load_le<uint64_t>(h + 24);
    const uint64_t n = bio::load_le<uint64_t>(h + 32), table = bio::load_le<uint64_t>(h + 40);
    if (table < kHeaderBytes || n > (1ull << 32) || table + 8 * n + 4 != file_size_)
      throw DataError(log::cat(path, ": truncated or corrupt (", file_size_, " bytes; the header expects ",
                               table + 8 * n + 4, ")"));
    std::vector<uint8_t> t(8 * n + 4);
    pread_all(fd_, t.data(), t.size(), table, path);
    if (bio::load_le<uint32_t>(t.data() + 8 * n) != bio::crc32(t.data(), 8 * n))
      throw DataError(log::cat(path, ": offset table CRC mismatch"));
    offsets_.resize(n + 1);
    for (uint64_t i = 0; i < n; ++i) offsets_[i] = bio::load_le<uint64_t>(t.data() + 8 * i);
    offsets_[n] = table;
    for (uint64_t i = 0; i < n; ++i)
      if (offsets_[i] < kHeaderBytes || offsets_[i] + kRecordFixedBytes + 4 > offsets_[i + 1])
        throw DataError(log::cat(path, ": corrupt offset table at record ", i));
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

DetectionShardReader::~DetectionShardReader() {
  if (fd_ >= 0) ::close(fd_);
}

DetectionRecord DetectionShardReader::read(uint64_t i) const {
  if (i >= size()) throw Error(log::cat(path_, ": record ", i, " out of range (", size(), " records)"));
  const uint64_t begin = offsets_[i], size = offsets_[i + 1] - begin;
  std::vector<uint8_t> buf(size);
  pread_all(fd_, buf.data(), size, begin, path_);
  const uint8_t* p = buf.data();
  const std::string where = log::cat(path_, ": record ", first_record_ + i);
  if (bio::load_le<uint32_t>(p) != size) throw DataError(where + ": size mismatch (corrupt shard)");
  if (bio::load_le<uint32_t>(p + size - 4) != bio::crc32(p, size - 4)) throw DataError(where + ": CRC mismatch");
  if (bio::load_le<uint64_t>(p + 4) != first_record_ + i)
    throw DataError(where + ": holds record " + std::to_string(bio::load_le<uint64_t>(p + 4)) +
                    " (a shard of another conversion?)");
  DetectionRecord r;
  r.width = bio::load_le<uint16_t>(p + 12);
  r.height = bio::load_le<uint16_t>(p + 14);
  r.channels = bio::load_le<uint16_t>(p + 16);
  const size_t n_obj = bio::load_le<uint16_t>(p + 18);
  const size_t image_bytes = bio::load_le<uint32_t>(p + 20), name_bytes = bio::load_le<uint16_t>(p + 24);
  if (kRecordFixedBytes + kObjectBytes * n_obj + name_bytes + image_bytes + 4 != size)
    throw DataError(where + ": field sizes do not add up (corrupt shard)");
  const uint8_t* o = p + kRecordFixedBytes;
  r.objects.resize(n_obj);
  for (ShardObject& ob : r.objects) {
    ob.class_id = static_cast<int>(bio::load_le<uint32_t>(o));
    float v[6];
    for (int k = 0; k < 6; ++k) v[k] = bits_float(bio::load_le<uint32_t>(o + 4 + 4 * k));
    ob.box = {v[0], v[1], v[2], v[3]};
    ob.truncated = v[4], ob.occluded = v[5];
    o += kObjectBytes;
  }
  r.name.assign(reinterpret_cast<const char*>(o), name_bytes);
  o += name_bytes;
  r.image.assign(reinterpret_cast<const char*>(o), image_bytes);
  return r;
}

DetectionShardSet::DetectionShardSet(const std::string& dir, int fold) : dir_(dir), index_(read_detection_index(dir)) {
  if (fold < 0 || fold >= static_cast<int>(index_.folds.size()))
    throw DataError(log::cat(dir, ": fold ", fold, " does not exist (", index_.folds.size(), " fold(s))"));
  for (const ShardFile& s : index_.folds[static_cast<size_t>(fold)].shards) {
    auto reader = std::make_unique<DetectionShardReader>((std::filesystem::path(dir) / s.file).string());
    if (reader->size() != s.records)
      throw DataError(log::cat(reader->path(), ": holds ", reader->size(), " records, index.json says ", s.records));
    if (reader->first_record() != total_)
      throw DataError(log::cat(reader->path(), ": starts at record ", reader->first_record(), ", expected ", total_));
    starts_.push_back(total_);
    total_ += s.records;
    readers_.push_back(std::move(reader));
  }
}

DetectionRecord DetectionShardSet::read(uint64_t i) const {
  if (i >= total_) throw Error(log::cat(dir_, ": record ", i, " out of range (", total_, ")"));
  const size_t s = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
  DetectionRecord r = readers_[s]->read(i - starts_[s]);
  for (const ShardObject& ob : r.objects)
    if (ob.class_id < 0 || ob.class_id >= static_cast<int>(index_.classes.size()))
      throw DataError(log::cat(readers_[s]->path(), ": record ", i, " has class id ", ob.class_id, " but index.json "
                               "lists ", index_.classes.size(), " classes"));
  return r;
}

}  // namespace kiln::detection
