// Detection data end to end below the trainer: synth_kitti scenes → dataset_convert → DetectionData → batches whose
// targets are the rasterised (augmented) boxes (runtime/include/kiln/runtime/detection_data.h).
#include "kiln/runtime/detection_data.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/common/error.h"
#include "kiln/detection/synth.h"
#include "kiln/runtime/detectnet.h"
#include "support/expect_error.h"

namespace fs = std::filesystem;
namespace kd = kiln::detection;
namespace kr = kiln::runtime;

namespace {

// 24 scenes of 64x64, converted as one fold. Built once for the whole suite.
class DetectionDataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("kiln_ddata_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    kd::SynthOptions o;
    o.output_dir = (root_ / "synth").string();
    o.images = 24;
    o.seed = 5;
    o.width = o.height = 64;
    o.val_fraction = 0;
    o.progress_every = 0;
    kd::generate_synth_kitti(o);
    const fs::path spec = root_ / "convert.yaml";
    std::ofstream(spec) << "kitti_config:\n  root_directory_path: " << (root_ / "synth" / "train").string()
                        << "\n  num_partitions: 1\n  num_shards: 2\n";
    kr::run_detectnet_convert(spec.string(), {}, (root_ / "shards").string());
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::vector<std::string> all_classes() { return {kd::kSynthClasses.begin(), kd::kSynthClasses.end()}; }

  static kr::DetectionLoaderOptions options(size_t classes, bool train) {
    kr::DetectionLoaderOptions o;
    o.batch_size = 5;
    o.num_workers = 2;
    o.train = train;
    o.seed = 3;
    o.augment.preprocessing = {64, 64, 3, 2.f, 2.f};
    o.augment.spatial = {0.5f, 0.f, 0.9f, 1.1f, 4.f, 4.f};
    o.grid.input_width = o.grid.input_height = 64;
    o.grid.output_width = o.grid.output_height = 8;
    o.grid.classes.assign(classes, kd::RasterClassConfig{});
    return o;
  }

  static std::vector<size_t> all(const kr::DetectionData& d) {
    std::vector<size_t> v(d.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  }

  static fs::path root_;
};
fs::path DetectionDataTest::root_;

}  // namespace

TEST_F(DetectionDataTest, BatchesCarryImagesAndTheirRasterisedBoxes) {
  kr::DetectionData data(all_classes());
  data.add((root_ / "shards").string(), 0);
  ASSERT_EQ(data.size(), 24u);
  uint64_t objects = 0;
  for (uint64_t n : data.objects_per_class()) objects += n;
  EXPECT_GE(objects, 24u);  // at least one object per scene
  kr::DetectionLoader loader(data, all(data), options(10, true));
  EXPECT_EQ(loader.num_batches(), 4u);  // 24 / 5, last partial batch dropped
  size_t seen = 0, boxes = 0;
  while (auto b = loader.next()) {
    ASSERT_EQ(b->images.sizes(), (std::vector<int64_t>{5, 3, 64, 64}));
    ASSERT_EQ(b->cov.sizes(), (std::vector<int64_t>{5, 10, 8, 8}));
    ASSERT_EQ(b->bbox.sizes(), (std::vector<int64_t>{5, 40, 8, 8}));
    EXPECT_GE(b->images.min().item<float>(), 0.f);
    EXPECT_LE(b->images.max().item<float>(), 1.f);
    for (size_t r = 0; r < 5; ++r) {
      boxes += b->boxes[r].size();
      // The targets are exactly the rasterisation of the sample's (augmented) boxes.
      std::vector<float> cov(10 * 64), bbox(40 * 64), norm(10 * 64);
      kd::rasterize(options(10, true).grid, b->boxes[r], cov.data(), bbox.data(), norm.data());
      const at::Tensor want = at::from_blob(cov.data(), {10, 8, 8}, at::kFloat);
      EXPECT_TRUE(at::equal(b->cov[static_cast<int64_t>(r)], want)) << "image " << b->indices[r];
      if (!b->boxes[r].empty()) {
        EXPECT_GT(b->cov[static_cast<int64_t>(r)].sum().item<float>(), 0.f);
      }
    }
    seen += 5;
  }
  EXPECT_EQ(seen, 20u);
  EXPECT_GT(boxes, 15u);
}

TEST_F(DetectionDataTest, SameKeysSameBatchesWhateverTheThreads) {
  kr::DetectionData data(all_classes());
  data.add((root_ / "shards").string(), 0);
  auto first = [&](kr::DetectionLoaderOptions o) { return *kr::DetectionLoader(data, all(data), o).next(); };
  auto o = options(10, true);
  const kr::DetectionBatch a = first(o);
  o.num_workers = 0;
  const kr::DetectionBatch b = first(o);
  EXPECT_TRUE(at::equal(a.images, b.images));
  EXPECT_TRUE(at::equal(a.bbox, b.bbox));
  o.epoch = 1;  // another epoch: other augmentation
  EXPECT_FALSE(at::equal(first(o).images, a.images));
  auto e = options(10, false);  // evaluation: no augmentation, the epoch does not matter
  const kr::DetectionBatch e0 = first(e);
  e.epoch = 7;
  EXPECT_TRUE(at::equal(first(e).images, e0.images));
}

TEST_F(DetectionDataTest, ClassMappingAndClassesWithoutObjects) {
  // Two target classes: "top" gathers t_shirt and shirt; "bag" keeps its name; everything else is left out.
  kr::DetectionData data({"top", "bag"});
  data.add((root_ / "shards").string(), 0, {{"t_shirt", "top"}, {"shirt", "top"}, {"bag", "bag"}});
  const kd::DetectionIndex index = kd::read_detection_index((root_ / "shards").string());
  const auto& counts = index.folds[0].objects;
  auto count = [&](const std::string& c) { return counts.count(c) ? counts.at(c) : uint64_t{0}; };
  EXPECT_EQ(data.objects_per_class()[0], count("t_shirt") + count("shirt"));
  EXPECT_EQ(data.objects_per_class()[1], count("bag"));
  EXPECT_EQ(data.ignored_objects().count("coat"), count("coat") > 0 ? 1u : 0u);
  kr::DetectionLoader loader(data, all(data), options(2, false));
  while (auto b = loader.next())
    for (const auto& boxes : b->boxes)
      for (const auto& t : boxes) ASSERT_TRUE(t.class_id == 0 || t.class_id == 1);

  kr::DetectionData none({"umbrella", "bag"});
  none.add((root_ / "shards").string(), 0);
  const std::string e = kiln::test_support::error_of<kiln::DataError>(
      [&] { none.require_objects_of_every_class("dataset_config.data_sources"); });
  EXPECT_NE(e.find("dataset_config.data_sources: no objects of target class(es) umbrella in 24 images from"),
            std::string::npos)
      << e;
  EXPECT_THROW(kr::DetectionLoader(data, all(data), options(3, false)), kiln::Error);  // 3 grid classes, 2 targets
}
