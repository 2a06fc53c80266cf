// generate_synth_kitti (docs/synth_kitti.md): determinism, layout, label validity, box tightness, bad options.
#include "kiln/detection/synth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/detection/kitti.h"

namespace fs = std::filesystem;
using namespace kiln::detection;

namespace {

const char* kSource = "/usr/share/datasets/fashion-mnist";

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() / ("kiln_synth_test_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Every regular file under `root`, relative path -> bytes.
std::map<std::string, std::string> tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = slurp(e.path());
  return files;
}

SynthOptions small(const fs::path& out, uint64_t seed) {
  SynthOptions o;
  o.output_dir = out.string();
  o.images = 20;
  o.seed = seed;
  o.width = o.height = 96;
  o.min_objects = 1;
  o.max_objects = 4;
  o.val_fraction = 0.2;
  o.source_dir = kSource;
  o.progress_every = 0;
  return o;
}

bool have_source() { return fs::exists(fs::path(kSource) / "t10k-images-idx3-ubyte.gz"); }

}  // namespace

TEST(SynthKitti, SameSeedSameBytesOtherSeedOtherBytes) {
  if (!have_source()) GTEST_SKIP() << "no Fashion-MNIST at " << kSource;
  TempDir a("a"), b("b"), c("c");
  generate_synth_kitti(small(a.path, 7));
  generate_synth_kitti(small(b.path, 7));
  generate_synth_kitti(small(c.path, 8));
  const auto ta = tree(a.path), tb = tree(b.path), tc = tree(c.path);
  EXPECT_EQ(ta.size(), 2u + 2u * 20u);  // classes.txt, summary.json, a png and a txt per scene
  EXPECT_TRUE(ta == tb);
  for (const auto& [name, bytes] : ta)
    EXPECT_TRUE(tb.count(name) && tb.at(name) == bytes) << name;
  int differing = 0;
  for (const auto& [name, bytes] : ta)
    if (name.rfind("train/images/", 0) == 0 && tc.count(name) && tc.at(name) != bytes) ++differing;
  EXPECT_EQ(differing, 16);  // every training image differs
  EXPECT_FALSE(fs::exists(a.path / (".tmp-synth-" + std::to_string(::getpid()))));
}

TEST(SynthKitti, LayoutLabelsAndBoxes) {
  if (!have_source()) GTEST_SKIP() << "no Fashion-MNIST at " << kSource;
  TempDir dir("layout");
  SynthOptions o = small(dir.path, 3);
  int scenes = 0, edge_checks = 0;
  o.on_scene = [&](const SynthScene& s) {
    ++scenes;
    const int W = s.width, H = s.height;
    // Tightness: outside every box the image is exactly the background; each box edge row and column holds a
    // pixel that is not background (so the box could not be smaller).
    std::vector<char> inside(static_cast<size_t>(W) * H, 0);
    for (const auto& obj : *s.objects) {
      const int x1 = static_cast<int>(obj.box.x1), y1 = static_cast<int>(obj.box.y1);
      const int x2 = static_cast<int>(obj.box.x2), y2 = static_cast<int>(obj.box.y2);
      ASSERT_EQ(obj.box.x1, x1);  // whole pixels
      for (int y = y1; y < y2; ++y)
        for (int x = x1; x < x2; ++x) inside[static_cast<size_t>(y) * W + x] = 1;
      auto differs = [&](int x, int y) {
        const size_t at = (static_cast<size_t>(y) * W + x) * 3;
        return std::memcmp(s.rgb + at, s.background + at, 3) != 0;
      };
      bool top = false, bottom = false, left = false, right = false;
      for (int x = x1; x < x2; ++x) top |= differs(x, y1), bottom |= differs(x, y2 - 1);
      for (int y = y1; y < y2; ++y) left |= differs(x1, y), right |= differs(x2 - 1, y);
      EXPECT_TRUE(top && bottom && left && right) << s.split << " " << s.index << " " << obj.type;
      ++edge_checks;
    }
    for (size_t i = 0; i < inside.size(); ++i)
      if (!inside[i]) {
        ASSERT_EQ(std::memcmp(s.rgb + i * 3, s.background + i * 3, 3), 0) << s.split << " " << s.index;
      }
  };
  const SynthSummary summary = generate_synth_kitti(o);
  EXPECT_EQ(scenes, 20);
  EXPECT_GT(edge_checks, 20);
  EXPECT_EQ(summary.train.images, 16);
  EXPECT_EQ(summary.val.images, 4);  // round(20 * 0.2)

  const std::vector<std::string> classes(kSynthClasses.begin(), kSynthClasses.end());
  int objects = 0;
  for (const char* split : {"train", "val"}) {
    const int n = std::string(split) == "train" ? 16 : 4;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir.path / split / "images"), fs::directory_iterator{}), n);
    for (int i = 0; i < n; ++i) {
      char stem[16];
      std::snprintf(stem, sizeof stem, "%06d", i);
      const std::string png = slurp(dir.path / split / "images" / (std::string(stem) + ".png"));
      ASSERT_GT(png.size(), 33u);
      EXPECT_EQ(png.substr(1, 3), "PNG");
      EXPECT_EQ(static_cast<unsigned char>(png[19]), 96);  // IHDR width (big-endian, low byte)
      EXPECT_EQ(png[25], 2);                               // colour type 2: RGB
      const auto objs = read_kitti_labels((dir.path / split / "labels" / (std::string(stem) + ".txt")).string(), 96, 96);
      EXPECT_GE(objs.size(), 1u);
      EXPECT_LE(objs.size(), 4u);
      for (const auto& obj : objs) {
        ++objects;
        EXPECT_NE(std::find(classes.begin(), classes.end(), obj.type), classes.end()) << obj.type;
        EXPECT_LT(obj.box.x1, obj.box.x2);
        EXPECT_LT(obj.box.y1, obj.box.y2);
        EXPECT_GE(obj.box.x1, 0);
        EXPECT_LE(obj.box.x2, 96);
        EXPECT_GE(obj.box.y1, 0);
        EXPECT_LE(obj.box.y2, 96);
        EXPECT_EQ(obj.truncated, 0);
        EXPECT_TRUE(obj.occluded == 0 || obj.occluded == 1);
        // Longest side 12..38 px at 96 (0.125..0.4 of the short side), give or take resampling and aspect jitter.
        const float side = std::max(obj.box.width(), obj.box.height());
        EXPECT_GE(side, 12 * 0.85f);
        EXPECT_LE(side, 38 * 1.15f + 2);
      }
    }
  }
  EXPECT_EQ(objects, summary.train.objects + summary.val.objects);
  EXPECT_EQ(slurp(dir.path / "classes.txt").substr(0, 16), "t_shirt\ntrouser\n");
  EXPECT_NE(slurp(dir.path / "summary.json").find("\"val\": {\"images\": 4"), std::string::npos);
}

TEST(SynthKitti, ObjectCountsStayInRange) {
  if (!have_source()) GTEST_SKIP() << "no Fashion-MNIST at " << kSource;
  TempDir dir("counts");
  SynthOptions o = small(dir.path, 11);
  o.min_objects = 3;
  o.max_objects = 3;
  o.val_fraction = 0;
  o.on_scene = [](const SynthScene& s) { EXPECT_EQ(s.objects->size(), 3u); };
  const auto summary = generate_synth_kitti(o);
  EXPECT_EQ(summary.train.objects, 60);
  EXPECT_EQ(summary.val.images, 0);
  EXPECT_FALSE(fs::exists(dir.path / "val"));
}

TEST(SynthKitti, BadOptionsAreUsageErrors) {
  EXPECT_THROW(parse_image_size("160"), kiln::UsageError);
  EXPECT_THROW(parse_image_size("160x"), kiln::UsageError);
  EXPECT_THROW(parse_image_size("axb"), kiln::UsageError);
  EXPECT_THROW(parse_image_size("16x16"), kiln::UsageError);  // too small
  EXPECT_EQ(parse_image_size("160x120"), (std::array<int, 2>{160, 120}));

  TempDir dir("bad");
  auto expect_usage = [&](auto change) {
    SynthOptions o = small(dir.path, 1);
    change(o);
    EXPECT_THROW(generate_synth_kitti(o), kiln::UsageError);
    EXPECT_FALSE(fs::exists(dir.path)) << "nothing may be written";
  };
  expect_usage([](SynthOptions& o) { o.images = 0; });
  expect_usage([](SynthOptions& o) { o.min_objects = 5, o.max_objects = 2; });
  expect_usage([](SynthOptions& o) { o.max_objects = 0, o.min_objects = 0; });
  expect_usage([](SynthOptions& o) { o.val_fraction = 1; });
  expect_usage([](SynthOptions& o) { o.width = 8; });

  // A non-empty output directory is refused and left alone.
  fs::create_directories(dir.path);
  { std::ofstream(dir.path / "keep.txt") << "x"; }
  try {
    generate_synth_kitti(small(dir.path, 1));
    ADD_FAILURE() << "no error";
  } catch (const kiln::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(tree(dir.path).size(), 1u);
}

TEST(SynthKitti, MissingSourceIsDataError) {
  TempDir dir("missing");
  SynthOptions o = small(dir.path, 1);
  o.source_dir = "/nonexistent/fashion";
  EXPECT_THROW(generate_synth_kitti(o), kiln::DataError);
  EXPECT_FALSE(fs::exists(dir.path));
}
