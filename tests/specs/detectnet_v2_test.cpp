// The DetectNet_v2 experiment schema: TAO's keys and defaults, the samples, and the rules between keys, each reported
// at the offending key as file:line:column with its key path.
#include "kiln/specs/detectnet_v2.h"

#include <gtest/gtest.h>

#include <fstream>
#include <filesystem>
#include <sstream>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using Lines = std::vector<std::string>;
using testing::issues_of;
using testing::TempDir;

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::string kSamples = std::string(KILN_SOURCE_DIR) + "/specs/samples/";

// Two classes; every section a line of its own so that the tests below can name lines.
const char* kMinimal =
    "model_config:\n"                                         // 1
    "  arch: resnet\n"                                        // 2
    "augmentation_config:\n"                                  // 3
    "  preprocessing:\n"                                      // 4
    "    output_image_width: 320\n"                           // 5
    "    output_image_height: 160\n"                          // 6
    "dataset_config:\n"                                       // 7
    "  data_sources:\n"                                       // 8
    "    - shards: shards/train\n"                            // 9
    "cost_function_config:\n"                                 // 10
    "  target_classes:\n"                                     // 11
    "    - name: car\n"                                       // 12
    "    - name: person\n"                                    // 13
    "bbox_rasterizer_config:\n"                               // 14
    "  target_class_config:\n"                                // 15
    "    - key: car\n"                                        // 16
    "    - key: person\n"                                     // 17
    "postprocessing_config:\n"                                // 18
    "  target_class_config:\n"                                // 19
    "    - key: car\n"                                        // 20
    "    - key: person\n";                                    // 21

class DetectNetV2 : public ::testing::Test {
 protected:
  DetectNetV2() {
    dir_.write("shards/train/index.json", "{}");
    dir_.write("shards/val/index.json", "{}");
    dir_.write("models/pretrained.kiln", "");
  }
  Spec load(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return load_spec(detectnet_v2_schema(), dir_.write("spec.yaml", yaml), overrides);
  }
  Lines problems(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    const std::string file = dir_.write("spec.yaml", yaml);
    Lines lines = issues_of([&] { load_spec(detectnet_v2_schema(), file, overrides); });
    for (auto& line : lines) {
      if (line.rfind(file, 0) == 0) line = "spec.yaml" + line.substr(file.size());
    }
    return lines;
  }
  // kMinimal with `from` (a whole line, without its newline) replaced by `to` (any number of lines).
  static std::string edit(const std::string& from, const std::string& to) {
    std::string yaml = kMinimal;
    const size_t at = yaml.find(from + "\n");
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? yaml : yaml.replace(at, from.size(), to);
  }

  TempDir dir_;
};

TEST_F(DetectNetV2, SynthSampleLoads) {
  // The sample's paths are relative to specs/samples/ (../../data/...): load it as if it were there.
  dir_.write("data/synth_shards/train/index.json", "{}");
  dir_.write("data/synth_shards/val/index.json", "{}");
  const std::string text = read(kSamples + "detectnet_v2_synth.yaml");
  ASSERT_FALSE(text.empty());
  Spec spec = load_spec_text(detectnet_v2_schema(), text, "detectnet_v2_synth.yaml", dir_.path() + "/specs/samples");
  const Lines classes = {"t_shirt", "trouser", "pullover", "dress", "coat",
                         "sandal",  "shirt",   "sneaker",  "bag",   "ankle_boot"};
  const std::string tc = "cost_function_config.target_classes";
  ASSERT_EQ(spec.count(tc), classes.size());
  for (size_t i = 0; i < classes.size(); ++i) {
    const std::string n = "[" + std::to_string(i) + "]";
    EXPECT_EQ(spec.get_string(tc + n + ".name"), classes[i]);
    EXPECT_EQ(spec.get_string("bbox_rasterizer_config.target_class_config" + n + ".key"), classes[i]);
    EXPECT_EQ(spec.get_string("postprocessing_config.target_class_config" + n + ".key"), classes[i]);
    ASSERT_EQ(spec.count(tc + n + ".objectives"), 2u);
    EXPECT_EQ(spec.get_string(tc + n + ".objectives[1].name"), "bbox");
    EXPECT_EQ(spec.get_float(tc + n + ".objectives[1].initial_weight"), 10.0);
    EXPECT_EQ(spec.get_float("bbox_rasterizer_config.target_class_config" + n + ".value.cov_radius_x"), 0.4);
    EXPECT_EQ(spec.get_int("postprocessing_config.target_class_config" + n +
                           ".value.clustering_config.minimum_bounding_box_height"),
              8);
  }
  EXPECT_EQ(spec.get_string("dataset_config.data_sources[0].shards"), dir_.path() + "/data/synth_shards/train");
  EXPECT_EQ(spec.get_string("dataset_config.validation_data_source.shards"), dir_.path() + "/data/synth_shards/val");
  EXPECT_FALSE(spec.has("dataset_config.validation_fold"));
  EXPECT_EQ(spec.get_int("augmentation_config.preprocessing.output_image_width"), 160);
  EXPECT_EQ(spec.get_int("model_config.stride"), 8);
  EXPECT_EQ(spec.get_int("training_config.batch_size_per_gpu"), 16);
  EXPECT_EQ(spec.get_int("training_config.num_epochs"), 20);
  EXPECT_EQ(spec.get_string("evaluation_config.average_precision_mode"), "INTEGRATE");
  // The effective spec (stored in checkpoints) reloads to the same values.
  Spec reloaded = load_spec_text(detectnet_v2_schema(), spec.to_yaml(), "reloaded", "/");
  EXPECT_EQ(reloaded.values_, spec.values_);
  EXPECT_EQ(reloaded.choices_, spec.choices_);
  EXPECT_EQ(reloaded.list_sizes_, spec.list_sizes_);
}

TEST_F(DetectNetV2, ConvertSampleLoadsForTrainAndVal) {
  dir_.write("data/synth/train/images/000000.png", "");
  dir_.write("data/synth/val/images/000000.png", "");
  const std::string text = read(kSamples + "detectnet_v2_convert_synth.yaml");
  const std::string base = dir_.path() + "/specs/samples";
  Spec train = load_spec_text(detectnet_v2_convert_schema(), text, "convert.yaml", base);
  EXPECT_EQ(train.get_string("kitti_config.root_directory_path"), dir_.path() + "/data/synth/train");
  EXPECT_EQ(train.get_int("kitti_config.num_partitions"), 1);
  EXPECT_EQ(train.get_string("kitti_config.image_extension"), ".png");
  EXPECT_TRUE(train.get_string_map("target_class_mapping").empty());
  Spec val = load_spec_text(detectnet_v2_convert_schema(), text, "convert.yaml", base,
                            {"kitti_config.root_directory_path=" + dir_.path() + "/data/synth/val"});
  EXPECT_EQ(val.get_string("kitti_config.root_directory_path"), dir_.path() + "/data/synth/val");
  // An empty convert spec names what it lacks (kitti_config is required, not silently absent).
  EXPECT_EQ(issues_of([&] { load_spec_text(detectnet_v2_convert_schema(), "", "convert.yaml", base); }),
            Lines({"convert.yaml:1:1: kitti_config: missing required key"}));
}

TEST_F(DetectNetV2, MinimalSpecGetsTaoDefaults) {
  Spec spec = load(kMinimal);
  EXPECT_EQ(spec.get_int("random_seed"), 42);
  // dataset_config
  EXPECT_EQ(spec.get_string("dataset_config.data_sources[0].shards"), dir_.path() + "/shards/train");
  EXPECT_EQ(spec.get_float("dataset_config.data_sources[0].source_weight"), 1.0);
  EXPECT_EQ(spec.get_string("dataset_config.data_sources[0].image_directory_path"), "");
  EXPECT_FALSE(spec.has("dataset_config.data_sources[0].tfrecords_path"));
  EXPECT_EQ(spec.get_string("dataset_config.image_extension"), "png");
  EXPECT_TRUE(spec.get_string_map("dataset_config.target_class_mapping").empty());
  EXPECT_FALSE(spec.has("dataset_config.validation_fold"));
  EXPECT_FALSE(spec.has("dataset_config.validation_data_source.shards"));
  EXPECT_EQ(spec.get_int("dataset_config.max_samples"), 0);
  // augmentation_config
  const std::string pre = "augmentation_config.preprocessing.";
  EXPECT_EQ(spec.get_int(pre + "output_image_channel"), 3);
  EXPECT_EQ(spec.get_float(pre + "min_bbox_width"), 1.0);
  EXPECT_EQ(spec.get_float(pre + "min_bbox_height"), 1.0);
  for (const char* crop : {"crop_left", "crop_top", "crop_right", "crop_bottom"}) {
    EXPECT_EQ(spec.get_int(pre + crop), 0) << crop;
  }
  const std::string spatial = "augmentation_config.spatial_augmentation.";
  EXPECT_EQ(spec.get_float(spatial + "hflip_probability"), 0.5);
  EXPECT_EQ(spec.get_float(spatial + "vflip_probability"), 0.0);
  EXPECT_EQ(spec.get_float(spatial + "zoom_min"), 1.0);
  EXPECT_EQ(spec.get_float(spatial + "zoom_max"), 1.0);
  EXPECT_EQ(spec.get_float(spatial + "translate_max_x"), 8.0);
  EXPECT_EQ(spec.get_float(spatial + "translate_max_y"), 8.0);
  EXPECT_EQ(spec.get_float(spatial + "rotate_rad_max"), 0.0);
  const std::string color = "augmentation_config.color_augmentation.";
  EXPECT_EQ(spec.get_float(color + "color_shift_stddev"), 0.0);
  EXPECT_EQ(spec.get_float(color + "hue_rotation_max"), 25.0);
  EXPECT_EQ(spec.get_float(color + "saturation_shift_max"), 0.2);
  EXPECT_EQ(spec.get_float(color + "contrast_scale_max"), 0.1);
  EXPECT_EQ(spec.get_float(color + "contrast_center"), 0.5);
  // model_config
  EXPECT_EQ(spec.get_string("model_config.pretrained_model_file"), "");
  EXPECT_EQ(spec.get_int("model_config.num_layers"), 18);
  EXPECT_TRUE(spec.get_bool("model_config.use_batch_norm"));
  EXPECT_FALSE(spec.get_bool("model_config.freeze_bn"));
  EXPECT_FALSE(spec.get_bool("model_config.all_projections"));
  EXPECT_EQ(spec.get_float("model_config.dropout_rate"), 0.0);
  EXPECT_TRUE(spec.get_float_list("model_config.freeze_blocks").empty());
  EXPECT_EQ(spec.get_float("model_config.objective_set.bbox.scale"), 35.0);
  EXPECT_EQ(spec.get_float("model_config.objective_set.bbox.offset"), 0.5);
  EXPECT_EQ(spec.get_string("model_config.objective_set.bbox.input"), "");
  EXPECT_EQ(spec.get_string("model_config.objective_set.cov.input"), "");
  EXPECT_EQ(spec.get_int("model_config.stride"), 16);
  EXPECT_EQ(spec.get_int("model_config.width"), 64);
  // bbox_rasterizer_config
  const std::string raster = "bbox_rasterizer_config.target_class_config[1].value.";
  EXPECT_EQ(spec.get_float(raster + "cov_center_x"), 0.5);
  EXPECT_EQ(spec.get_float(raster + "cov_center_y"), 0.5);
  EXPECT_EQ(spec.get_float(raster + "cov_radius_x"), 0.4);
  EXPECT_EQ(spec.get_float(raster + "cov_radius_y"), 0.4);
  EXPECT_EQ(spec.get_float(raster + "bbox_min_radius"), 1.0);
  EXPECT_EQ(spec.get_float("bbox_rasterizer_config.deadzone_radius"), 0.67);
  // cost_function_config
  const std::string cls = "cost_function_config.target_classes[0].";
  EXPECT_EQ(spec.get_float(cls + "class_weight"), 1.0);
  EXPECT_EQ(spec.get_float(cls + "coverage_foreground_weight"), 0.05);
  EXPECT_EQ(spec.count(cls + "objectives"), 0u);  // the runtime uses TAO's cov 1/1, bbox 10/10
  EXPECT_TRUE(spec.get_bool("cost_function_config.enable_autoweighting"));
  EXPECT_EQ(spec.get_float("cost_function_config.max_objective_weight"), 0.9999);
  EXPECT_EQ(spec.get_float("cost_function_config.min_objective_weight"), 0.0001);
  // training_config
  EXPECT_EQ(spec.get_int("training_config.batch_size_per_gpu"), 8);
  EXPECT_EQ(spec.get_int("training_config.num_epochs"), 120);
  EXPECT_EQ(spec.get_int("training_config.checkpoint_interval"), 10);
  EXPECT_EQ(spec.choice("training_config.learning_rate"), "soft_start_annealing_schedule");
  const std::string lr = "training_config.learning_rate.soft_start_annealing_schedule.";
  EXPECT_EQ(spec.get_float(lr + "min_learning_rate"), 5e-6);
  EXPECT_EQ(spec.get_float(lr + "max_learning_rate"), 5e-4);
  EXPECT_EQ(spec.get_float(lr + "soft_start"), 0.1);
  EXPECT_EQ(spec.get_float(lr + "annealing"), 0.7);
  EXPECT_EQ(spec.get_string("training_config.regularizer.type"), "L1");
  EXPECT_EQ(spec.get_float("training_config.regularizer.weight"), 3e-9);
  EXPECT_EQ(spec.choice("training_config.optimizer"), "adam");
  EXPECT_EQ(spec.get_float("training_config.optimizer.adam.epsilon"), 1e-8);
  EXPECT_EQ(spec.get_float("training_config.optimizer.adam.beta1"), 0.9);
  EXPECT_EQ(spec.get_float("training_config.optimizer.adam.beta2"), 0.999);
  EXPECT_FALSE(spec.get_bool("training_config.cost_scaling.enabled"));
  EXPECT_EQ(spec.get_float("training_config.cost_scaling.initial_exponent"), 20.0);
  EXPECT_EQ(spec.get_float("training_config.cost_scaling.increment"), 0.005);
  EXPECT_EQ(spec.get_float("training_config.cost_scaling.decrement"), 1.0);
  EXPECT_EQ(spec.get_int("training_config.n_workers"), 2);
  EXPECT_EQ(spec.get_string("training_config.data_parallel.lr_scaling"), "none");
  // postprocessing_config
  const std::string cc = "postprocessing_config.target_class_config[0].value.clustering_config.";
  EXPECT_EQ(spec.get_string(cc + "clustering_algorithm"), "DBSCAN");
  EXPECT_EQ(spec.get_float(cc + "coverage_threshold"), 0.005);
  EXPECT_EQ(spec.get_float(cc + "dbscan_eps"), 0.13);
  EXPECT_EQ(spec.get_float(cc + "dbscan_min_samples"), 1.0);
  EXPECT_EQ(spec.get_int(cc + "minimum_bounding_box_height"), 20);
  EXPECT_EQ(spec.get_float(cc + "dbscan_confidence_threshold"), 0.0);
  EXPECT_EQ(spec.get_float(cc + "nms_iou_threshold"), 0.0);
  EXPECT_EQ(spec.get_float(cc + "nms_confidence_threshold"), 0.0);
  // evaluation_config
  EXPECT_EQ(spec.get_int("evaluation_config.validation_period_during_training"), 10);
  EXPECT_EQ(spec.get_int("evaluation_config.first_validation_epoch"), 1);
  EXPECT_EQ(spec.count("evaluation_config.minimum_detection_ground_truth_overlap"), 0u);
  EXPECT_EQ(spec.count("evaluation_config.evaluation_box_config"), 0u);
  EXPECT_EQ(spec.get_string("evaluation_config.average_precision_mode"), "SAMPLE");
}

TEST_F(DetectNetV2, AcceptsTaoShapedMapsAndOptions) {
  Spec spec = load(std::string(kMinimal) +
                   "evaluation_config:\n"
                   "  minimum_detection_ground_truth_overlap:\n"
                   "    - key: car\n"
                   "      value: 0.7\n"
                   "  evaluation_box_config:\n"
                   "    - key: person\n"
                   "      value: {minimum_height: 20, maximum_height: 9999, minimum_width: 10, maximum_width: 9999}\n"
                   "  average_precision_mode: INTEGRATE\n",
                   {"dataset_config.validation_fold=0", "dataset_config.target_class_mapping={car: car, van: car, "
                                                        "pedestrian: person}",
                    "model_config.freeze_blocks=[0, 1.0]", "model_config.pretrained_model_file=" + dir_.path() +
                                                               "/models/pretrained.kiln"});
  EXPECT_EQ(spec.get_float("evaluation_config.minimum_detection_ground_truth_overlap[0].value"), 0.7);
  EXPECT_EQ(spec.get_int("evaluation_config.evaluation_box_config[0].value.minimum_height"), 20);
  EXPECT_EQ(spec.get_int("dataset_config.validation_fold"), 0);
  EXPECT_EQ(spec.get_string_map("dataset_config.target_class_mapping").at("van"), "car");
  EXPECT_EQ(spec.get_float_list("model_config.freeze_blocks"), (std::vector<double>{0, 1}));
}

TEST_F(DetectNetV2, TargetClassesAreUnique) {
  EXPECT_EQ(problems(edit("    - name: person", "    - name: person\n    - name: car")),
            Lines({"spec.yaml:14:13: cost_function_config.target_classes[2].name: target class 'car' is given twice "
                   "(first at line 12)"}));
  EXPECT_EQ(problems("dataset_config:\n  data_sources: []\ncost_function_config:\n  target_classes: []\n"),
            Lines({"spec.yaml:1:1: augmentation_config: missing required key",
                   "spec.yaml:1:1: model_config: missing required key",
                   "spec.yaml:1:1: bbox_rasterizer_config: missing required key",
                   "spec.yaml:1:1: postprocessing_config: missing required key",
                   "spec.yaml:2:17: dataset_config.data_sources: expected at least 1 items, got 0",
                   "spec.yaml:4:19: cost_function_config.target_classes: expected at least 1 items, got 0"}));
}

TEST_F(DetectNetV2, RasterizerNeedsExactlyOneEntryPerClass) {
  EXPECT_EQ(problems(edit("    - key: person", "    - key: persn\n    - key: car")),
            Lines({"spec.yaml:16:5: bbox_rasterizer_config.target_class_config: no entry for target class 'person' "
                   "(one `key: <class>` item per class of cost_function_config.target_classes)",
                   "spec.yaml:17:12: bbox_rasterizer_config.target_class_config[1].key: 'persn' is not a target "
                   "class (cost_function_config.target_classes: car, person) (did you mean 'person'?)",
                   "spec.yaml:18:12: bbox_rasterizer_config.target_class_config[2].key: class 'car' is given twice "
                   "(first at line 16)"}));
}

TEST_F(DetectNetV2, PostprocessingNeedsExactlyOneEntryPerClass) {
  EXPECT_EQ(problems(edit("postprocessing_config:\n  target_class_config:\n    - key: car\n    - key: person",
                          "postprocessing_config:\n  target_class_config: []")),
            Lines({"spec.yaml:19:24: postprocessing_config.target_class_config: no entry for target classes 'car', "
                   "'person' (one `key: <class>` item per class of cost_function_config.target_classes)"}));
  // A class only in cost_function_config is missing from both maps.
  EXPECT_EQ(problems(edit("    - name: person", "    - name: person\n    - name: bus")),
            Lines({"spec.yaml:17:5: bbox_rasterizer_config.target_class_config: no entry for target class 'bus' "
                   "(one `key: <class>` item per class of cost_function_config.target_classes)",
                   "spec.yaml:21:5: postprocessing_config.target_class_config: no entry for target class 'bus' "
                   "(one `key: <class>` item per class of cost_function_config.target_classes)"}));
}

TEST_F(DetectNetV2, EvaluationMapsNameTargetClasses) {
  EXPECT_EQ(problems(std::string(kMinimal) +
                     "evaluation_config:\n"                                                    // 22
                     "  minimum_detection_ground_truth_overlap:\n"                             // 23
                     "    - {key: bus, value: 0.5}\n"                                          // 24
                     "    - {key: car, value: 1.5}\n"                                          // 25
                     "  evaluation_box_config:\n"                                              // 26
                     "    - {key: car, value: {minimum_height: 30, maximum_height: 20}}\n"),  // 27
            Lines({"spec.yaml:24:13: evaluation_config.minimum_detection_ground_truth_overlap[0].key: 'bus' is not a "
                   "target class (cost_function_config.target_classes: car, person)",
                   "spec.yaml:25:25: evaluation_config.minimum_detection_ground_truth_overlap[1].value: 1.5 is out of "
                   "range (must be in [0, 1])",
                   "spec.yaml:27:42: evaluation_config.evaluation_box_config[0].value.minimum_height: must not be "
                   "above maximum_height (20), got 30"}));
}

TEST_F(DetectNetV2, TargetClassMappingOntoTargetClasses) {
  const std::string mapping = "    - shards: shards/train\n  target_class_mapping:\n";
  EXPECT_EQ(problems(edit("    - shards: shards/train", mapping + "    van: truck\n    car: car")),
            Lines({"spec.yaml:11:5: dataset_config.target_class_mapping.van: maps to 'truck', which is not a target "
                   "class (cost_function_config.target_classes: car, person)",
                   "spec.yaml:11:5: dataset_config.target_class_mapping: no source class maps to target class "
                   "'person' (with a mapping, every target class needs a source; without one, the shards' classes "
                   "are used as they are)"}));
  EXPECT_EQ(problems(edit("    - shards: shards/train", mapping + "    Car: car\n    person: person")),
            Lines({"spec.yaml:11:5: dataset_config.target_class_mapping.Car: source classes are lower-case "
                   "(dataset_convert lower-cases KITTI types), got 'Car'"}));
  EXPECT_EQ(load(edit("    - shards: shards/train", mapping + "    car: car\n    van: car\n    person: person"))
                .get_string_map("dataset_config.target_class_mapping")
                .size(),
            3u);
}

TEST_F(DetectNetV2, ObjectivesAreCovAndBboxOnce) {
  EXPECT_EQ(problems(edit("    - name: car\n    - name: person", "    - name: car\n"                   // 12
                                            "      objectives:\n"                                      // 13
                                            "        - {name: cov, initial_weight: 1, weight_target: 1}\n"  // 14
                                            "        - {name: cov, initial_weight: 1, weight_target: 1}\n"  // 15
                                            "      coverage_foreground_weight: 1\n"                    // 16
                                            "      class_weight: 0\n"                                  // 17
                                            "    - name: person\n"                                     // 18
                                            "      objectives:\n"                                      // 19
                                            "        - {name: depth}")),                               // 20
            Lines({"spec.yaml:14:9: cost_function_config.target_classes[0].objectives: missing objective 'bbox' "
                   "(give both cov and bbox, or no objectives for TAO's defaults: cov 1/1, bbox 10/10)",
                   "spec.yaml:15:18: cost_function_config.target_classes[0].objectives[1].name: objective 'cov' is "
                   "given twice (first at line 14)",
                   "spec.yaml:16:35: cost_function_config.target_classes[0].coverage_foreground_weight: must be below "
                   "1 (the background gets 1 − it)",
                   "spec.yaml:17:21: cost_function_config.target_classes[0].class_weight: 0 is out of range (must be "
                   "in (0, 1000000])",
                   "spec.yaml:20:11: cost_function_config.target_classes[1].objectives[0].initial_weight: missing "
                   "required key",
                   "spec.yaml:20:11: cost_function_config.target_classes[1].objectives[0].weight_target: missing "
                   "required key",
                   "spec.yaml:20:18: cost_function_config.target_classes[1].objectives[0].name: 'depth' is not one "
                   "of: cov, bbox"}));
}

TEST_F(DetectNetV2, ImageSizeIsAMultipleOfTheStride) {
  const std::string yaml = edit("    output_image_width: 320\n    output_image_height: 160",
                                "    output_image_width: 100\n    output_image_height: 168");
  EXPECT_EQ(problems(yaml),
            Lines({"spec.yaml:5:25: augmentation_config.preprocessing.output_image_width: must be a multiple of "
                   "model_config.stride (16), got 100",
                   "spec.yaml:6:26: augmentation_config.preprocessing.output_image_height: must be a multiple of "
                   "model_config.stride (16), got 168"}));
  EXPECT_EQ(problems(yaml, {"model_config.stride=8"}),
            Lines({"spec.yaml:5:25: augmentation_config.preprocessing.output_image_width: must be a multiple of "
                   "model_config.stride (8), got 100"}));
  EXPECT_EQ(load(yaml, {"model_config.stride=8", "augmentation_config.preprocessing.output_image_width=104"})
                .get_int("model_config.stride"),
            8);
}

TEST_F(DetectNetV2, ValidationFoldOrValidationDataSourceNotBoth) {
  const std::string both = "    - shards: shards/train\n"        // 9
                           "  validation_fold: 0\n"              // 10
                           "  validation_data_source:\n"         // 11
                           "    shards: shards/val";             // 12
  EXPECT_EQ(problems(edit("    - shards: shards/train", both)),
            Lines({"spec.yaml:12:5: dataset_config.validation_data_source: give validation_fold or "
                   "validation_data_source, not both (validation_fold is at line 10)"}));
  Spec fold = load(kMinimal, {"dataset_config.validation_fold=0"});
  EXPECT_EQ(fold.get_int("dataset_config.validation_fold"), 0);
  Spec source = load(kMinimal, {"dataset_config.validation_data_source={shards: " + dir_.path() + "/shards/val}"});
  EXPECT_EQ(source.get_string("dataset_config.validation_data_source.shards"), dir_.path() + "/shards/val");
  EXPECT_EQ(problems(kMinimal, {"dataset_config.validation_data_source={shards: missing}"}),
            Lines({"<command line>: dataset_config.validation_data_source.shards: path does not exist: " +
                   std::filesystem::current_path().string() + "/missing"}));
}

TEST_F(DetectNetV2, RangesThatSpanKeys) {
  EXPECT_EQ(
      problems(edit("    output_image_height: 160", "    output_image_height: 160\n"                          // 6
                                                   "    crop_left: 50\n"                                        // 7
                                                   "    crop_right: 40\n"                                       // 8
                                                   "  spatial_augmentation: {zoom_min: 1.2, zoom_max: 1.1}") +  // 9
               "training_config:\n"                                                                             // 25
               "  learning_rate:\n"                                                                             // 26
               "    soft_start_annealing_schedule:\n"                                                           // 27
               "      {min_learning_rate: 0.01, max_learning_rate: 0.001, soft_start: 0.8, annealing: 0.7}\n"),  // 28
      Lines({"spec.yaml:7:16: augmentation_config.preprocessing.crop_left: must be below crop_right (40), got 50",
             "spec.yaml:9:36: augmentation_config.spatial_augmentation.zoom_min: must not be above zoom_max (1.1), "
             "got 1.2",
             "spec.yaml:28:27: training_config.learning_rate.soft_start_annealing_schedule.min_learning_rate: must "
             "not be above max_learning_rate (0.001), got 0.01",
             "spec.yaml:28:71: training_config.learning_rate.soft_start_annealing_schedule.soft_start: must not be "
             "above annealing (0.7), got 0.8"}));
  EXPECT_EQ(problems(kMinimal, {"cost_function_config.min_objective_weight=0.5",
                                "cost_function_config.max_objective_weight=0.25"}),
            Lines({"<command line>: cost_function_config.min_objective_weight: must not be above "
                   "max_objective_weight (0.25), got 0.5"}));
}

TEST_F(DetectNetV2, RejectsTaoOptionsKilnLacks) {
  EXPECT_EQ(problems(edit("  arch: resnet", "  arch: vgg\n  num_layers: 50\n  stride: 4\n  freeze_blocks: [1.5]\n"
                                              "  all_projections: true") +
                     "training_config:\n  optimizer: {sgd: {}}\n"),
            Lines({"spec.yaml:2:9: model_config.arch: 'vgg' is not one of: resnet",
                   "spec.yaml:3:15: model_config.num_layers: must be 10, 18 or 34, got 50",
                   "spec.yaml:4:11: model_config.stride: must be 8 or 16, got 4",
                   "spec.yaml:5:18: model_config.freeze_blocks: block indices are whole numbers, got 1.5",
                   "spec.yaml:6:20: model_config.all_projections: kiln's ResNet has projection shortcuts only where "
                   "the shape changes: only false is accepted",
                   "spec.yaml:27:15: training_config.optimizer.sgd: unknown key 'sgd'"}));
  EXPECT_EQ(problems(edit("    - shards: shards/train", "    - tfrecords_path: /data/tfrecords/kitti-*")),
            Lines({"spec.yaml:9:7: dataset_config.data_sources[0].shards: missing required key",
                   "spec.yaml:9:23: dataset_config.data_sources[0].tfrecords_path: kiln reads kiln shards, not "
                   "TFRecords: give `shards`, the folder written by `kiln detectnet_v2 dataset_convert`"}));
  EXPECT_EQ(problems(edit("    output_image_height: 160", "    output_image_height: 160\n"
                                                         "    output_image_channel: 2\n"
                                                         "  spatial_augmentation:\n"
                                                         "    rotate_rad_max: 0.1")),
            Lines({"spec.yaml:7:27: augmentation_config.preprocessing.output_image_channel: must be 1 or 3, got 2",
                   "spec.yaml:9:21: augmentation_config.spatial_augmentation.rotate_rad_max: kiln does not rotate "
                   "images (its boxes stay axis-aligned): only 0 is accepted, got 0.1"}));
  EXPECT_EQ(problems(edit("    - key: car\n    - key: person\npostprocessing_config:",
                          "    - {key: car, value: {cov_radius_x: 1.5}}\n    - key: person\npostprocessing_config:") +
                     "    - {key: person, value: {clustering_config: {clustering_algorithm: HYBRID}}}\n"),
            Lines({"spec.yaml:16:40: bbox_rasterizer_config.target_class_config[0].value.cov_radius_x: 1.5 is out "
                   "of range (must be in [0, 1])",
                   "spec.yaml:22:13: postprocessing_config.target_class_config[2].key: class 'person' is given twice "
                   "(first at line 21)",
                   "spec.yaml:22:71: postprocessing_config.target_class_config[2].value.clustering_config."
                   "clustering_algorithm: 'HYBRID' is not one of: DBSCAN, NMS"}));
}

TEST_F(DetectNetV2, DescribesEveryTaoKey) {
  const std::string docs = describe_schema(detectnet_v2_schema());
  for (const char* key :
       {"data_sources", "tfrecords_path", "image_directory_path", "source_weight", "image_extension",
        "target_class_mapping", "validation_fold", "validation_data_source", "output_image_width",
        "output_image_height", "output_image_channel", "min_bbox_width", "min_bbox_height", "crop_left", "crop_top",
        "crop_right", "crop_bottom", "hflip_probability", "vflip_probability", "zoom_min", "zoom_max",
        "translate_max_x", "translate_max_y", "rotate_rad_max", "color_shift_stddev", "hue_rotation_max",
        "saturation_shift_max", "contrast_scale_max", "contrast_center", "pretrained_model_file", "arch", "num_layers",
        "use_batch_norm", "freeze_bn", "all_projections", "dropout_rate", "freeze_blocks", "objective_set", "scale",
        "offset", "input", "target_class_config", "cov_center_x", "cov_center_y", "cov_radius_x", "cov_radius_y",
        "bbox_min_radius", "deadzone_radius", "target_classes", "class_weight", "coverage_foreground_weight",
        "objectives", "initial_weight", "weight_target", "enable_autoweighting", "max_objective_weight",
        "min_objective_weight", "batch_size_per_gpu", "num_epochs", "checkpoint_interval",
        "soft_start_annealing_schedule", "min_learning_rate", "max_learning_rate", "soft_start", "annealing",
        "regularizer", "weight", "adam", "epsilon", "beta1", "beta2", "cost_scaling", "initial_exponent",
        "increment", "decrement", "clustering_config", "clustering_algorithm", "coverage_threshold", "dbscan_eps",
        "dbscan_min_samples", "minimum_bounding_box_height", "dbscan_confidence_threshold", "nms_iou_threshold",
        "nms_confidence_threshold", "validation_period_during_training", "first_validation_epoch",
        "minimum_detection_ground_truth_overlap", "evaluation_box_config", "minimum_height", "maximum_height",
        "minimum_width", "maximum_width", "average_precision_mode", "random_seed"}) {
    EXPECT_NE(docs.find("`" + std::string(key) + "`"), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace kiln::specs
