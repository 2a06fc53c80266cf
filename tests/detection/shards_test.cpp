// kiln detection shards: round trip and corruption checks (runtime/include/kiln/detection/shards.h).
#include "kiln/detection/shards.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/common/error.h"
#include "support/expect_error.h"

namespace fs = std::filesystem;
namespace kd = kiln::detection;

namespace {

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("kiln_dshard_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

kd::DetectionRecord record(int i) {
  kd::DetectionRecord r;
  r.name = "images/" + std::to_string(i) + ".png";
  r.width = 40 + i, r.height = 30, r.channels = 3;
  for (int k = 0; k < i % 3; ++k) {
    kd::ShardObject o;
    o.class_id = k;
    o.box = {1.5f * static_cast<float>(k), 2.f, 10.25f + static_cast<float>(k), 20.f};
    o.occluded = static_cast<float>(k % 2);
    r.objects.push_back(o);
  }
  r.image = std::string("\x89PNG fake bytes ", 16) + std::string(static_cast<size_t>(i), static_cast<char>(i));
  return r;
}

std::string error_of(const std::function<void()>& f) { return kiln::test_support::error_of<kiln::DataError>(f); }

}  // namespace

TEST(DetectionShards, RoundTripThroughIndexAndShards) {
  TempDir d;
  kd::DetectionIndex index;
  index.classes = {"bag", "coat", "dress"};
  index.source = "/data/kitti";
  index.ignored_objects = {{"dontcare", 3}};
  std::vector<kd::DetectionRecord> all;
  for (int i = 0; i < 7; ++i) all.push_back(record(i));
  kd::FoldInfo fold;
  for (int s = 0; s < 2; ++s) {
    const size_t b = s == 0 ? 0 : 4, e = s == 0 ? 4 : 7;
    const std::vector<kd::DetectionRecord> part(all.begin() + static_cast<long>(b), all.begin() + static_cast<long>(e));
    const std::string name = kd::detection_shard_name(0, 1, s, 2);
    kd::write_detection_shard((d.path / name).string(), 0, s, 2, b, part);
    fold.shards.push_back({name, part.size()});
  }
  fold.images = 7;
  fold.objects = {{"bag", 4}, {"coat", 2}};
  index.folds.push_back(fold);
  kd::write_detection_index(d.path.string(), index);
  EXPECT_EQ(kd::detection_shard_name(1, 2, 3, 10), "fold-001-of-002-shard-00003-of-00010.kdet");

  const kd::DetectionShardSet set(d.path.string(), 0);
  ASSERT_EQ(set.size(), 7u);
  EXPECT_EQ(set.index().classes, index.classes);
  EXPECT_EQ(set.index().ignored_objects, index.ignored_objects);
  EXPECT_EQ(set.index().folds[0].objects, fold.objects);
  for (uint64_t i = 0; i < 7; ++i) {
    const kd::DetectionRecord got = set.read(i), want = all[i];
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.width, want.width);
    EXPECT_EQ(got.image, want.image);
    ASSERT_EQ(got.objects.size(), want.objects.size());
    for (size_t k = 0; k < got.objects.size(); ++k) {
      EXPECT_EQ(got.objects[k].class_id, want.objects[k].class_id);
      EXPECT_EQ(got.objects[k].box.x1, want.objects[k].box.x1);
      EXPECT_EQ(got.objects[k].box.x2, want.objects[k].box.x2);
      EXPECT_EQ(got.objects[k].occluded, want.objects[k].occluded);
    }
  }
  EXPECT_NE(error_of([&] { kd::DetectionShardSet(d.path.string(), 1); }).find("fold 1 does not exist"),
            std::string::npos);
}

TEST(DetectionShards, CorruptionIsCaughtAndNamed) {
  TempDir d;
  const std::string path = (d.path / "s.kdet").string();
  kd::write_detection_shard(path, 0, 0, 1, 0, {record(1), record(2), record(5)});
  {  // flip one byte inside record 1's image
    const kd::DetectionShardReader reader(path);
    ASSERT_EQ(reader.size(), 3u);
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(56 + 32 + 28 + 14 + 5 + 60);  // past record 0 (1 object, 14-byte name, 17-byte image): into record 1
  f.put('X');
  f.close();
  const kd::DetectionShardReader reader(path);
  EXPECT_NO_THROW(reader.read(0));
  EXPECT_EQ(error_of([&] { reader.read(1); }), path + ": record 1: CRC mismatch");
  EXPECT_NO_THROW(reader.read(2));

  // Truncation is found when opening.
  fs::resize_file(path, fs::file_size(path) - 3);
  EXPECT_NE(error_of([&] { kd::DetectionShardReader r(path); }).find(path + ": truncated or corrupt"),
            std::string::npos);
  std::ofstream(path) << "not a shard at all, but long enough to hold a header........................";
  EXPECT_EQ(error_of([&] { kd::DetectionShardReader r(path); }), path + ": not a kiln detection shard (bad magic)");
}

TEST(DetectionShards, IndexErrorsNameTheFolder) {
  TempDir d;
  EXPECT_NE(error_of([&] { kd::read_detection_index(d.path.string()); }).find("no index.json"), std::string::npos);
  std::ofstream(d.path / "index.json") << R"({"format": "kiln-shards", "version": 1})";
  EXPECT_NE(error_of([&] { kd::read_detection_index(d.path.string()); }).find("format is 'kiln-shards'"),
            std::string::npos);
  std::ofstream(d.path / "index.json") << R"({"format": "kiln-detection-shards", "version": 1})";
  EXPECT_NE(error_of([&] { kd::read_detection_index(d.path.string()); }).find("malformed index"), std::string::npos);
}
