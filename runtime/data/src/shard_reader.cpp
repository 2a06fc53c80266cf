// Random access into kiln shards: one read-only descriptor per shard, records fetched with pread (no shared file
// offset, so get() is thread-safe without a lock) and verified against their CRC32 on every read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "kiln/common/byte_io.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/data/dataset.h"
#include "shard_format.h"

namespace fs = std::filesystem;

namespace kiln::data {
namespace {

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

struct ShardFile {
  std::string path;
  size_t first = 0, count = 0;
  int fd = -1;
};

class ShardDataset final : public Dataset {
 public:
  ShardDataset(const std::string& dir, size_t limit) {
    try {
      open(dir, limit);
    } catch (...) {
      close_all();  // the destructor does not run when the constructor throws
      throw;
    }
  }
  ~ShardDataset() override { close_all(); }
  ShardDataset(const ShardDataset&) = delete;
  ShardDataset& operator=(const ShardDataset&) = delete;

  size_t size() const override { return n_; }
  ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return names_; }

  std::string describe(size_t i) const override {
    if (i >= n_) return index_path_ + ": record " + std::to_string(i) + " (out of range)";
    return locate(i).path + "#" + std::to_string(i);
  }

  int64_t get(size_t i, uint8_t* pixels) const override {
    if (i >= n_) throw DataError(index_path_ + ": record " + std::to_string(i) + " is out of range (" +
                                 std::to_string(n_) + " records)");
    const ShardFile& s = locate(i);
    const size_t offset = shard::kHeaderBytes + (i - s.first) * record_bytes_;
    const std::string where = s.path + ": record " + std::to_string(i) + " (offset " + std::to_string(offset) + "): ";
    thread_local std::vector<uint8_t> buf;
    buf.resize(record_bytes_);
    size_t got = 0;
    while (got < record_bytes_) {
      const ssize_t r = ::pread(s.fd, buf.data() + got, record_bytes_ - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw DataError(where + "read failed: " + std::strerror(errno));
      if (r == 0) throw DataError(where + "truncated: file ends after " + std::to_string(got) + " of its " +
                                  std::to_string(record_bytes_) + " bytes");
      got += static_cast<size_t>(r);
    }
    const size_t body = record_bytes_ - shard::kRecordTrailerBytes;
    const uint32_t stored = bytes::load_le<uint32_t>(buf.data() + body);
    const uint32_t actual = bytes::crc32(buf.data(), body);
    if (stored != actual)
      throw DataError(where + "checksum mismatch (stored " + hex32(stored) + ", computed " + hex32(actual) + ")");
    // The CRC matched, so a mismatch below means the file belongs to a different conversion, not bit rot.
    const uint64_t index = bytes::load_le<uint64_t>(buf.data());
    if (index != i) throw DataError(where + "holds record " + std::to_string(index) + " (shard from another conversion?)");
    const ImageShape rs{bytes::load_le<uint16_t>(buf.data() + 12), bytes::load_le<uint16_t>(buf.data() + 14),
                        bytes::load_le<uint16_t>(buf.data() + 16)};
    if (!(rs == shape_) || bytes::load_le<uint32_t>(buf.data() + 20) != shape_.bytes())
      throw DataError(where + "image shape " + rs.str() + " differs from the index's " + shape_.str());
    const uint32_t label = bytes::load_le<uint32_t>(buf.data() + 8);
    if (label >= names_.size())
      throw DataError(where + "label " + std::to_string(label) + " is outside the " + std::to_string(names_.size()) +
                      " classes of the index");
    std::memcpy(pixels, buf.data() + shard::kRecordHeaderBytes, shape_.bytes());
    return label;
  }

 private:
  const ShardFile& locate(size_t i) const {
    auto it = std::upper_bound(shards_.begin(), shards_.end(), i,
                               [](size_t v, const ShardFile& s) { return v < s.first; });
    return *std::prev(it);
  }

  void close_all() {
    for (auto& s : shards_)
      if (s.fd >= 0) ::close(s.fd);
    shards_.clear();
  }

  [[noreturn]] void bad_index(const std::string& why) const { throw DataError(index_path_ + ": " + why); }

  void open(const std::string& dir, size_t limit) {
    index_path_ = (fs::path(dir) / shard::kIndexName).string();
    if (!file_exists(index_path_)) bad_index("missing (not a kiln shard folder, or dataset_convert did not finish)");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(kiln::read_file(index_path_));
      if (j.value("format", "") != shard::kFormatName) bad_index("not a kiln shard index (format is not \"kiln-shards\")");
      if (j.at("version").get<uint32_t>() != shard::kVersion)
        bad_index("index version " + j.at("version").dump() + " is not supported (this kiln reads version 1)");
      const auto dims = j.at("image_shape").get<std::vector<int>>();
      if (dims.size() != 3 || dims[0] < 1 || dims[1] < 1 || dims[2] < 1) bad_index("image_shape must be [C,H,W]");
      shape_ = ImageShape{dims[0], dims[1], dims[2]};
      names_ = j.at("class_names").get<std::vector<std::string>>();
      total_ = j.at("num_records").get<size_t>();
      record_bytes_ = j.at("record_bytes").get<size_t>();
      for (const auto& s : j.at("shards"))
        shards_.push_back({(fs::path(dir) / s.at("file").get<std::string>()).string(),
                           s.at("first_record").get<size_t>(), s.at("num_records").get<size_t>(), -1});
    } catch (const nlohmann::json::exception& e) {
      bad_index(std::string("cannot parse: ") + e.what());
    }
    if (names_.empty()) bad_index("class_names is empty");
    if (record_bytes_ != shard::record_bytes(shape_.bytes()))
      bad_index("record_bytes " + std::to_string(record_bytes_) + " does not match image_shape " + shape_.str());
    if (j.value("header_bytes", size_t{0}) != shard::kHeaderBytes) bad_index("header_bytes must be 48");
    size_t next = 0;
    for (const auto& s : shards_) {
      if (s.first != next) bad_index(s.path + " starts at record " + std::to_string(s.first) + ", expected " +
                                     std::to_string(next) + " (shards must cover the records in order)");
      next += s.count;
    }
    if (next != total_ || total_ == 0)
      bad_index("num_records is " + std::to_string(total_) + " but the shards hold " + std::to_string(next));
    n_ = limit > 0 ? std::min(limit, total_) : total_;
    // Drop empty shards: locate() then always lands on a shard that holds the record.
    shards_.erase(std::remove_if(shards_.begin(), shards_.end(), [](const ShardFile& s) { return s.count == 0; }),
                  shards_.end());
    for (auto& s : shards_) open_shard(s);
  }

  void open_shard(ShardFile& s) {
    const std::string records = "records " + std::to_string(s.first) + ".." + std::to_string(s.first + s.count - 1);
    s.fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (s.fd < 0) throw DataError(s.path + ": cannot open (" + index_path_ + " lists " + records + " in it): " +
                                  std::strerror(errno));
    struct stat st {};
    if (::fstat(s.fd, &st) != 0) throw DataError(s.path + ": cannot stat: " + std::strerror(errno));
    const size_t size = static_cast<size_t>(st.st_size);
    const size_t expected = shard::kHeaderBytes + s.count * record_bytes_;
    if (size < expected) {
      const size_t complete = size < shard::kHeaderBytes ? 0 : (size - shard::kHeaderBytes) / record_bytes_;
      const size_t offset = shard::kHeaderBytes + complete * record_bytes_;
      throw DataError(s.path + ": truncated: record " + std::to_string(s.first + complete) + " (offset " +
                      std::to_string(offset) + ") is incomplete; " + index_path_ + " lists " + records + " (" +
                      std::to_string(expected) + " bytes) but the file has " + std::to_string(size) + " bytes");
    }
    uint8_t raw[shard::kHeaderBytes];
    if (::pread(s.fd, raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
      throw DataError(s.path + ": cannot read the shard header: " + std::strerror(errno));
    shard::Header h;
    const std::string why = shard::decode_header(raw, h);
    if (!why.empty()) throw DataError(s.path + ": " + why);
    if (h.first_record != s.first || h.num_records != s.count || h.record_bytes != record_bytes_)
      throw DataError(s.path + ": header says records " + std::to_string(h.first_record) + "+" +
                      std::to_string(h.num_records) + " of " + std::to_string(h.record_bytes) + " bytes but " +
                      index_path_ + " lists " + records + " of " + std::to_string(record_bytes_) + " bytes");
  }

  std::string index_path_;
  ImageShape shape_;
  std::vector<std::string> names_;
  std::vector<ShardFile> shards_;
  size_t total_ = 0, n_ = 0, record_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Dataset> open_shards(const std::string& dir, size_t limit) {
  return std::make_unique<ShardDataset>(dir, limit);
}

}  // namespace kiln::data
