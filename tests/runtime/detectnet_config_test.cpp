// The DetectNet_v2 sample spec, turned into the detection pieces' settings
// (runtime/include/kiln/runtime/detectnet_config.h).
#include "kiln/runtime/detectnet_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "kiln/specs/detectnet_v2.h"

namespace fs = std::filesystem;
namespace kr = kiln::runtime;
namespace kd = kiln::detection;

namespace {

struct Shards {
  fs::path dir = fs::temp_directory_path() / ("kiln_dcfg_" + std::to_string(::getpid()));
  Shards() {
    fs::create_directories(dir / "train");
    fs::create_directories(dir / "val");
  }
  ~Shards() { fs::remove_all(dir); }
};

kr::DetectnetConfig sample(const Shards& s, std::vector<std::string> more = {}) {
  std::vector<std::string> o = {"dataset_config.data_sources=[{shards: " + (s.dir / "train").string() + "}]",
                                "dataset_config.validation_data_source.shards=" + (s.dir / "val").string()};
  o.insert(o.end(), more.begin(), more.end());
  const auto spec = kiln::specs::load_spec(kiln::specs::detectnet_v2_schema(),
                                           std::string(KILN_SOURCE_DIR) + "/specs/samples/detectnet_v2_synth.yaml", o);
  return kr::DetectnetConfig::from_spec(spec);
}

}  // namespace

TEST(DetectnetConfig, SampleSpecBecomesTheDetectionSettings) {
  const Shards s;
  const kr::DetectnetConfig c = sample(s);
  ASSERT_EQ(c.classes.size(), 10u);
  EXPECT_EQ(c.classes.front(), "t_shirt");
  EXPECT_EQ(c.classes.back(), "ankle_boot");
  EXPECT_EQ(c.arch.arch, "detectnet_v2");
  EXPECT_EQ(c.arch.num_classes, 10);
  EXPECT_EQ(c.arch.n_layers, 10);
  EXPECT_EQ(c.arch.output_stride, 8);
  EXPECT_EQ(c.arch.base_width, 32);
  EXPECT_EQ(c.arch.in_channels, 3);
  EXPECT_EQ(c.grid.output_width, 20);  // 160 / 8
  EXPECT_EQ(c.grid.classes.size(), 10u);
  EXPECT_FLOAT_EQ(c.grid.classes[3].cov_radius_x, 0.4f);
  EXPECT_FLOAT_EQ(c.grid.deadzone_radius, 0.67f);
  EXPECT_FLOAT_EQ(c.grid.bbox_scale, 35.f);
  EXPECT_EQ(c.train.size(), 1u);
  ASSERT_EQ(c.val.size(), 1u);
  EXPECT_EQ(c.val[0].shards, (s.dir / "val").string());
  EXPECT_EQ(c.augment.preprocessing.output_channels, 3);
  EXPECT_FLOAT_EQ(c.augment.spatial.hflip_probability, 0.5f);
  EXPECT_FLOAT_EQ(c.cost.classes[9].bbox.initial_weight, 10.f);
  EXPECT_FLOAT_EQ(c.cost.classes[0].coverage_foreground_weight, 0.5f);
  EXPECT_FALSE(c.cost.enable_autoweighting);
  EXPECT_EQ(c.schedule.kind, kr::LrSchedule::Kind::kSoftStartAnnealing);
  EXPECT_DOUBLE_EQ(c.schedule.learning_rate, 1e-3);
  EXPECT_DOUBLE_EQ(c.schedule.min_learning_rate, 1e-5);
  EXPECT_EQ(c.optimizer.name, "adam");
  EXPECT_EQ(c.regularizer.type, "L1");
  EXPECT_EQ(c.batch_size, 16);
  ASSERT_EQ(c.clustering.size(), 10u);
  EXPECT_FLOAT_EQ(c.clustering[2].minimum_bounding_box_height, 8.f);
  EXPECT_EQ(c.clustering[2].clustering_algorithm, kd::ClusteringConfig::kNms);
  EXPECT_FLOAT_EQ(c.clustering[2].nms_iou_threshold, 0.4f);
  EXPECT_FLOAT_EQ(c.clustering[2].nms_confidence_threshold, 0.01f);
  EXPECT_FLOAT_EQ(c.ap.iou_thresholds.at(4), 0.5f);
  ASSERT_EQ(c.evaluation_boxes.size(), 10u);
  EXPECT_FLOAT_EQ(c.evaluation_boxes[0].minimum_height, 10.f);
  EXPECT_EQ(c.validation_period, 5);
  EXPECT_NO_THROW(c.augment.validate());
  EXPECT_NO_THROW(c.grid.validate());
}

TEST(DetectnetConfig, PerClassSettingsFollowTargetClassOrderNotMapOrder) {
  const Shards s;
  // The maps list person first; the output channels follow target_classes: car, then person.
  const std::string yaml =
      "model_config: {arch: resnet}\n"
      "augmentation_config: {preprocessing: {output_image_width: 64, output_image_height: 32}}\n"
      "dataset_config: {data_sources: [{shards: train}], validation_fold: 0}\n"
      "cost_function_config: {target_classes: [{name: car}, {name: person}]}\n"
      "bbox_rasterizer_config:\n"
      "  target_class_config:\n"
      "    - {key: person, value: {cov_radius_x: 0.9}}\n"
      "    - {key: car, value: {cov_radius_x: 0.2}}\n"
      "postprocessing_config:\n"
      "  target_class_config:\n"
      "    - {key: person, value: {clustering_config: {clustering_algorithm: NMS}}}\n"
      "    - {key: car, value: {clustering_config: {clustering_algorithm: DBSCAN}}}\n"
      "evaluation_config: {average_precision_mode: INTEGRATE, minimum_detection_ground_truth_overlap: "
      "[{key: person, value: 0.3}]}\n";
  const auto spec =
      kiln::specs::load_spec_text(kiln::specs::detectnet_v2_schema(), yaml, "mini.yaml", s.dir.string());
  const kr::DetectnetConfig c = kr::DetectnetConfig::from_spec(spec);
  ASSERT_EQ(c.classes, (std::vector<std::string>{"car", "person"}));
  EXPECT_FLOAT_EQ(c.grid.classes[0].cov_radius_x, 0.2f);
  EXPECT_FLOAT_EQ(c.grid.classes[1].cov_radius_x, 0.9f);
  EXPECT_EQ(c.clustering[0].clustering_algorithm, kd::ClusteringConfig::kDbscan);
  EXPECT_EQ(c.clustering[1].clustering_algorithm, kd::ClusteringConfig::kNms);
  EXPECT_EQ(c.ap.mode, kd::ApMode::kIntegrate);
  EXPECT_EQ(c.ap.iou_thresholds.count(0), 0u);  // car: the default 0.5
  EXPECT_FLOAT_EQ(c.ap.iou_thresholds.at(1), 0.3f);
  EXPECT_EQ(c.arch.output_stride, 16);  // TAO's default
  EXPECT_FLOAT_EQ(c.cost.classes[1].cov.initial_weight, 1.f);  // no objectives given: TAO's defaults
  EXPECT_FLOAT_EQ(c.cost.classes[1].bbox.initial_weight, 10.f);
  // validation_fold 0: validate on fold 0, train on the others.
  ASSERT_EQ(c.val.size(), 1u);
  EXPECT_EQ(c.val[0].fold, 0);
  EXPECT_EQ(c.train[0].fold, -1);
  EXPECT_EQ(c.train[0].except_fold, 0);
}
