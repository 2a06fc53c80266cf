// detectnet_v2 dataset_convert: KITTI folder → detection shards, class mapping, folds, and bad labels
// (runtime/include/kiln/runtime/detectnet.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/common/error.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/detection/shards.h"
#include "kiln/specs/spec.h"
#include "support/expect_error.h"

#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include "kiln/common/third_party_end.h"

namespace fs = std::filesystem;
namespace kd = kiln::detection;

namespace {

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("kiln_dconv_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_png(const fs::path& path, int w, int h, int seed) {
  std::vector<unsigned char> px(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>((i * 7 + static_cast<size_t>(seed)) & 0xff);
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3));
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A KITTI folder of n 40x30 images: image i has a "Car" box, a "van" box on even i, a "Pedestrian" on i % 3 == 0.
fs::path make_kitti(const fs::path& root, int n) {
  fs::create_directories(root / "image_2");
  fs::create_directories(root / "label_2");
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "%06d", i);
    write_png(root / "image_2" / (std::string(name) + ".png"), 40, 30, i);
    std::ofstream l(root / "label_2" / (std::string(name) + ".txt"));
    l << "Car 0.00 0 0.00 1 2 " << 10 + i << " 20 0 0 0 0 0 0 0\n";
    if (i % 2 == 0) l << "van 0.00 1 0.00 5 5 39 29.5 0 0 0 0 0 0 0\n";
    if (i % 3 == 0) l << "Pedestrian 0.00 0 0.00 0 0 4 4 0 0 0 0 0 0 0\n";
  }
  return root;
}

fs::path write_spec(const fs::path& dir, const fs::path& root, const std::string& extra = "") {
  const fs::path spec = dir / "convert.yaml";
  std::ofstream(spec) << "kitti_config:\n  root_directory_path: " << root.string()
                      << "\n  image_dir_name: image_2\n  label_dir_name: label_2\n  val_split: 20\n  num_shards: 3\n"
                      << "target_class_mapping:\n  car: vehicle\n  van: vehicle\n"
                      << extra;
  return spec;
}

std::string data_error(const std::function<void()>& f) {
  return kiln::test_support::error_of<kiln::DataError>(f);
}

}  // namespace

TEST(DetectnetConvert, WritesFoldsShardsAndMappedClasses) {
  TempDir d;
  const fs::path root = make_kitti(d.path / "kitti", 10), out = d.path / "shards";
  kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(), {}, out.string());

  const kd::DetectionIndex index = kd::read_detection_index(out.string());
  EXPECT_EQ(index.classes, std::vector<std::string>{"vehicle"});
  EXPECT_EQ(index.ignored_objects, (std::map<std::string, uint64_t>{{"pedestrian", 4}}));  // i = 0, 3, 6, 9
  ASSERT_EQ(index.folds.size(), 2u);
  EXPECT_EQ(index.folds[0].images, 2u);  // val_split 20 % of 10: the first two by name
  EXPECT_EQ(index.folds[1].images, 8u);
  EXPECT_EQ(index.folds[0].shards.size(), 2u);  // at most one shard per image
  EXPECT_EQ(index.folds[1].shards.size(), 3u);
  EXPECT_EQ(index.folds[0].objects.at("vehicle"), 3u);  // images 0 and 1: car, car, van
  EXPECT_EQ(index.folds[1].objects.at("vehicle"), 8u + 4u);

  std::set<std::string> val_names;
  const kd::DetectionShardSet val(out.string(), 0);
  for (uint64_t i = 0; i < val.size(); ++i) val_names.insert(val.read(i).name);
  EXPECT_EQ(val_names, (std::set<std::string>{"image_2/000000.png", "image_2/000001.png"}));
  const kd::DetectionShardSet train(out.string(), 1);
  ASSERT_EQ(train.size(), 8u);
  std::set<std::string> train_names;
  for (uint64_t i = 0; i < train.size(); ++i) {
    const kd::DetectionRecord r = train.read(i);
    train_names.insert(r.name);
    EXPECT_EQ(r.image, slurp(root / r.name)) << r.name;  // the file's bytes, unchanged
    EXPECT_EQ(r.width, 40);
    EXPECT_EQ(r.height, 30);
    const int n = std::stoi(fs::path(r.name).stem().string());
    ASSERT_EQ(r.objects.size(), n % 2 == 0 ? 2u : 1u) << r.name;
    EXPECT_EQ(r.objects[0].class_id, 0);
    EXPECT_EQ(r.objects[0].box.x2, static_cast<float>(10 + n));
    if (n % 2 == 0) {
      EXPECT_EQ(r.objects[1].occluded, 1.f);
    }
  }
  EXPECT_EQ(train_names.size(), 8u);

  // A rerun with fewer shards replaces the old set: no stale shard files stay behind.
  kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(), {"kitti_config.num_shards=1"},
                                       out.string());
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(out)) files += e.path().extension() == ".kdet";
  EXPECT_EQ(files, 2u);
}

TEST(DetectnetConvert, WithoutMappingEveryClassIsKeptLowerCased) {
  TempDir d;
  const fs::path root = make_kitti(d.path / "kitti", 3), out = d.path / "shards";
  const fs::path spec = d.path / "plain.yaml";
  std::ofstream(spec) << "kitti_config:\n  root_directory_path: " << root.string()
                      << "\n  image_dir_name: image_2\n  label_dir_name: label_2\n  num_partitions: 1\n";
  kiln::runtime::run_detectnet_convert(spec.string(), {}, out.string());
  const kd::DetectionIndex index = kd::read_detection_index(out.string());
  EXPECT_EQ(index.classes, (std::vector<std::string>{"car", "pedestrian", "van"}));
  ASSERT_EQ(index.folds.size(), 1u);
  EXPECT_EQ(index.folds[0].images, 3u);
}

TEST(DetectnetConvert, BadLabelsFailWithFileAndLineAndWriteNothing) {
  TempDir d;
  const fs::path root = make_kitti(d.path / "kitti", 4), out = d.path / "shards";
  std::ofstream(root / "label_2" / "000002.txt", std::ios::app) << "car 0 0 0 1 2 3\n";
  std::string e = data_error([&] {
    kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(), {}, out.string());
  });
  EXPECT_NE(e.find((root / "label_2" / "000002.txt").string() + ":3: expected 15 fields"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out / "index.json"));
  EXPECT_TRUE(!fs::exists(out) || fs::is_empty(out));

  make_kitti(root, 4);  // fresh labels; then a box past the 40-pixel-wide image
  std::ofstream(root / "label_2" / "000001.txt") << "car 0 0 0 1 2 41 20 0 0 0 0 0 0 0\n";
  e = data_error([&] { kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(), {}, out.string()); });
  EXPECT_NE(e.find("000001.txt:1: box (1, 2, 41, 20) lies outside the 40x30 image"), std::string::npos) << e;

  make_kitti(root, 4);
  fs::remove(root / "label_2" / "000003.txt");
  e = data_error([&] { kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(), {}, out.string()); });
  EXPECT_NE(e.find("000003.png: no label file"), std::string::npos) << e;

  make_kitti(root, 4);
  std::ofstream(root / "image_2" / "000000.png") << "not a png";
  e = data_error([&] { kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(), {}, out.string()); });
  EXPECT_NE(e.find("000000.png: not a PNG or JPEG image"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(out / "index.json"));
}

TEST(DetectnetConvert, SpecErrorsComeBeforeAnyWork) {
  TempDir d;
  const fs::path root = make_kitti(d.path / "kitti", 2);
  EXPECT_THROW(kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(),
                                                    {"kitti_config.image_extension=.bmp"}, (d.path / "o").string()),
               kiln::specs::SpecError);
  EXPECT_THROW(kiln::runtime::run_detectnet_convert(write_spec(d.path, root).string(),
                                                    {"kitti_config.partition_mode=sequence"}, (d.path / "o").string()),
               kiln::specs::SpecError);
  EXPECT_FALSE(fs::exists(d.path / "o"));
}
