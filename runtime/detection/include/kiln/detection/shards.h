// kiln detection shards, version 1 (docs/formats.md "kiln detection shards" is the specification): what
// `detectnet_v2 dataset_convert` writes and detection training reads. A folder holds index.json (classes, folds,
// per-class object counts) and, per fold, shard files `fold-FFF-of-PPP-shard-SSSSS-of-NNNNN.kdet` of variable-size
// records: the image file's bytes as they were (PNG/JPEG, decoded by the loader), its size, its objects and its name,
// each record CRC-checked, with an offset table at the end of the file.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/detection/kitti.h"

namespace kiln::detection {

struct ShardObject {
  int class_id = 0;  // index into DetectionIndex::classes
  Box box;           // pixels of the stored image
  float truncated = 0, occluded = 0;
};

struct DetectionRecord {
  std::string name;  // the image's path relative to the converted root (e.g. "images/000123.png")
  int width = 0, height = 0, channels = 0;  // of the stored image
  std::vector<ShardObject> objects;
  std::string image;  // the encoded image file (PNG or JPEG)
};

struct ShardFile {
  std::string file;  // name within the folder
  uint64_t records = 0;
};

struct FoldInfo {
  std::vector<ShardFile> shards;
  uint64_t images = 0;
  std::map<std::string, uint64_t> objects;  // per class name
};

struct DetectionIndex {
  std::vector<std::string> classes;  // sorted; ShardObject::class_id indexes it
  std::vector<FoldInfo> folds;       // fold 0 is the validation fold of a random partition
  std::map<std::string, uint64_t> ignored_objects;  // source classes without a target class, with their counts
  std::string source;  // the converted KITTI root
};

// The shard file name: fold-000-of-002-shard-00003-of-00010.kdet
std::string detection_shard_name(int fold, int num_folds, int shard, int num_shards);

// Writes one shard file atomically (temp + rename). `first_record` is the fold-wide number of records[0].
void write_detection_shard(const std::string& path, int fold, int shard, int num_shards, uint64_t first_record,
                           const std::vector<DetectionRecord>& records);

// index.json, written atomically; read with every field checked (DataError naming the file and what is wrong).
void write_detection_index(const std::string& dir, const DetectionIndex& index);
DetectionIndex read_detection_index(const std::string& dir);

// Random access to one shard's records. Opening checks the header and the offset table; read() checks the
// record's CRC and record number. Errors are DataError naming the file (and record). Thread-safe reads (pread).
class DetectionShardReader {
 public:
  explicit DetectionShardReader(const std::string& path);
  ~DetectionShardReader();
  DetectionShardReader(const DetectionShardReader&) = delete;
  DetectionShardReader& operator=(const DetectionShardReader&) = delete;

  uint64_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  uint64_t first_record() const { return first_record_; }
  DetectionRecord read(uint64_t i) const;  // i is shard-local
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t first_record_ = 0;
  uint64_t file_size_ = 0;
  std::vector<uint64_t> offsets_;  // plus one past the last record (the table's offset)
};

// Every record of a fold of a converted folder, in order: index.json's shards opened lazily by record number.
class DetectionShardSet {
 public:
  DetectionShardSet(const std::string& dir, int fold);
  uint64_t size() const { return total_; }
  DetectionRecord read(uint64_t i) const;
  const DetectionIndex& index() const { return index_; }

 private:
  std::string dir_;
  DetectionIndex index_;
  std::vector<std::unique_ptr<DetectionShardReader>> readers_;
  std::vector<uint64_t> starts_;
  uint64_t total_ = 0;
};

}  // namespace kiln::detection
