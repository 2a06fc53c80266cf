// DetectNet_v2 spec → settings (detectnet_config.h).
#include "kiln/runtime/detectnet_config.h"

#include <algorithm>

#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::runtime {
namespace {

namespace kd = kiln::detection;

float f(const specs::Spec& s, const std::string& path) { return static_cast<float>(s.get_float(path)); }

// Index of each target class in a TAO map (a list of {key, value}); the schema checked that every class is listed
// once, so a missing one here is a bug, not a user error.
std::vector<std::string> map_paths(const specs::Spec& s, const std::string& map,
                                   const std::vector<std::string>& classes, bool required) {
  std::vector<std::string> paths(classes.size());
  for (size_t i = 0; i < s.count(map); ++i) {
    const std::string item = log::cat(map, "[", i, "]");
    const auto it = std::find(classes.begin(), classes.end(), s.get_string(item + ".key"));
    if (it != classes.end()) paths[static_cast<size_t>(it - classes.begin())] = item + ".value";
  }
  for (size_t c = 0; c < classes.size(); ++c)
    if (required && paths[c].empty()) throw Error(log::cat(map, " has no entry for class ", classes[c]));
  return paths;
}

std::vector<DetectionSource> sources(const specs::Spec& s, const std::string& list) {
  std::vector<DetectionSource> out;
  for (size_t i = 0; i < s.count(list); ++i)
    out.push_back({s.get_string(log::cat(list, "[", i, "].shards")), -1, -1});
  return out;
}

}  // namespace

const specs::Schema& detectnet_schema_without_path_checks() {
  static const specs::Schema schema = specs::without_path_checks(specs::detectnet_v2_schema());
  return schema;
}

DetectnetConfig DetectnetConfig::from_spec(const specs::Spec& s) {
  DetectnetConfig c;
  const std::string tc = "cost_function_config.target_classes";
  for (size_t i = 0; i < s.count(tc); ++i) c.classes.push_back(s.get_string(log::cat(tc, "[", i, "].name")));
  const int C = static_cast<int>(c.classes.size());

  // Model.
  const int channels = static_cast<int>(s.get_int("augmentation_config.preprocessing.output_image_channel"));
  const int width = static_cast<int>(s.get_int("augmentation_config.preprocessing.output_image_width"));
  const int height = static_cast<int>(s.get_int("augmentation_config.preprocessing.output_image_height"));
  const int stride = static_cast<int>(s.get_int("model_config.stride"));
  c.arch = networks::detectnet_v2_architecture(C, static_cast<int>(s.get_int("model_config.num_layers")), channels,
                                               height, width, stride);
  c.arch.use_batch_norm = s.get_bool("model_config.use_batch_norm");
  c.arch.dropout = s.get_float("model_config.dropout_rate");
  c.arch.base_width = static_cast<int>(s.get_int("model_config.width"));
  for (double b : s.get_float_list("model_config.freeze_blocks")) c.freeze_blocks.push_back(static_cast<int64_t>(b));
  if (s.has("model_config.pretrained_model_file"))
    c.pretrained_model_path = s.get_string("model_config.pretrained_model_file");

  // Data.
  c.train = sources(s, "dataset_config.data_sources");
  if (s.has("dataset_config.validation_fold")) {
    const int fold = static_cast<int>(s.get_int("dataset_config.validation_fold"));
    for (DetectionSource& src : c.train) {
      c.val.push_back({src.shards, fold, -1});
      src.except_fold = fold;
    }
  } else if (s.has("dataset_config.validation_data_source.shards")) {
    c.val.push_back({s.get_string("dataset_config.validation_data_source.shards"), -1, -1});
  }
  c.class_mapping = s.get_string_map("dataset_config.target_class_mapping");
  c.max_samples = static_cast<size_t>(s.get_int("dataset_config.max_samples"));

  // Augmentation and targets.
  const std::string pre = "augmentation_config.preprocessing.", sp = "augmentation_config.spatial_augmentation.",
                    co = "augmentation_config.color_augmentation.";
  c.augment.preprocessing = {width, height, channels, f(s, pre + "min_bbox_width"), f(s, pre + "min_bbox_height")};
  c.augment.spatial = {f(s, sp + "hflip_probability"), f(s, sp + "vflip_probability"), f(s, sp + "zoom_min"),
                       f(s, sp + "zoom_max"),          f(s, sp + "translate_max_x"),   f(s, sp + "translate_max_y")};
  c.augment.color = {f(s, co + "color_shift_stddev"), f(s, co + "hue_rotation_max"), f(s, co + "saturation_shift_max"),
                     f(s, co + "contrast_scale_max"), f(s, co + "contrast_center")};
  c.grid.input_width = width, c.grid.input_height = height;
  c.grid.output_width = width / stride, c.grid.output_height = height / stride;
  c.grid.deadzone_radius = f(s, "bbox_rasterizer_config.deadzone_radius");
  c.grid.bbox_scale = f(s, "model_config.objective_set.bbox.scale");
  c.grid.bbox_offset = f(s, "model_config.objective_set.bbox.offset");
  for (const std::string& v : map_paths(s, "bbox_rasterizer_config.target_class_config", c.classes, true))
    c.grid.classes.push_back({f(s, v + ".cov_center_x"), f(s, v + ".cov_center_y"), f(s, v + ".cov_radius_x"),
                              f(s, v + ".cov_radius_y"), f(s, v + ".bbox_min_radius")});

  // Cost: an empty objectives list means TAO's defaults (cov 1/1, bbox 10/10).
  for (int i = 0; i < C; ++i) {
    const std::string item = log::cat(tc, "[", i, "]");
    DetectionClassCost cc;
    cc.name = c.classes[static_cast<size_t>(i)];
    cc.class_weight = f(s, item + ".class_weight");
    cc.coverage_foreground_weight = f(s, item + ".coverage_foreground_weight");
    for (size_t k = 0; k < s.count(item + ".objectives"); ++k) {
      const std::string o = log::cat(item, ".objectives[", k, "]");
      DetectionObjective& obj = s.get_string(o + ".name") == "cov" ? cc.cov : cc.bbox;
      obj = {f(s, o + ".initial_weight"), f(s, o + ".weight_target")};
    }
    c.cost.classes.push_back(cc);
  }
  c.cost.enable_autoweighting = s.get_bool("cost_function_config.enable_autoweighting");
  c.cost.min_objective_weight = f(s, "cost_function_config.min_objective_weight");
  c.cost.max_objective_weight = f(s, "cost_function_config.max_objective_weight");

  // Training.
  const std::string t = "training_config.";
  c.batch_size = s.get_int(t + "batch_size_per_gpu");
  c.n_epochs = s.get_int(t + "num_epochs");
  c.checkpoints = read_checkpoint_policy(s, "training_config");
  c.visualizer = read_visualizer(s, "training_config");
  c.amp = read_amp(s, "training_config.amp");
  c.memory_format = s.get_string("training_config.memory_format");
  c.n_workers = static_cast<int>(s.get_int(t + "n_workers"));
  c.random_seed = s.get_int("random_seed");
  const std::string lr = t + "learning_rate.soft_start_annealing_schedule.";
  c.schedule.kind = LrSchedule::Kind::kSoftStartAnnealing;
  c.schedule.learning_rate = s.get_float(lr + "max_learning_rate");
  c.schedule.min_learning_rate = s.get_float(lr + "min_learning_rate");
  c.schedule.soft_start = s.get_float(lr + "soft_start");
  c.schedule.annealing = s.get_float(lr + "annealing");
  c.optimizer.name = "adam";
  c.optimizer.beta_1 = s.get_float(t + "optimizer.adam.beta1");
  c.optimizer.beta_2 = s.get_float(t + "optimizer.adam.beta2");
  c.optimizer.epsilon = s.get_float(t + "optimizer.adam.epsilon");
  const std::string reg = s.get_string(t + "regularizer.type");
  c.regularizer.type = reg == "NO_REG" ? "None" : reg;
  c.regularizer.conv = true, c.regularizer.dense = false;  // DetectNet_v2 has no dense layers
  c.regularizer.weight_decay = s.get_float(t + "regularizer.weight");
  const std::string dp = t + "data_parallel.";
  c.data_parallel.linear_lr_scaling = s.get_string(dp + "lr_scaling") == "linear";
  c.data_parallel.first_bucket_mb = s.get_float(dp + "first_bucket_mb");
  c.data_parallel.bucket_mb = s.get_float(dp + "bucket_mb");
  c.data_parallel.gradient_compression = s.get_string(dp + "gradient_compression");

  // Post-processing and evaluation.
  for (const std::string& v : map_paths(s, "postprocessing_config.target_class_config", c.classes, true)) {
    const std::string k = v + ".clustering_config.";
    kd::ClusteringConfig cc;
    cc.clustering_algorithm = s.get_string(k + "clustering_algorithm") == "NMS" ? kd::ClusteringConfig::kNms
                                                                                : kd::ClusteringConfig::kDbscan;
    cc.coverage_threshold = f(s, k + "coverage_threshold");
    cc.dbscan_eps = f(s, k + "dbscan_eps");
    cc.dbscan_min_samples = f(s, k + "dbscan_min_samples");
    cc.minimum_bounding_box_height = static_cast<float>(s.get_int(k + "minimum_bounding_box_height"));
    cc.dbscan_confidence_threshold = f(s, k + "dbscan_confidence_threshold");
    cc.nms_iou_threshold = f(s, k + "nms_iou_threshold");
    cc.nms_confidence_threshold = f(s, k + "nms_confidence_threshold");
    c.clustering.push_back(cc);
  }
  const std::string ev = "evaluation_config.";
  c.validation_period = s.get_int(ev + "validation_period_during_training");
  c.first_validation_epoch = s.get_int(ev + "first_validation_epoch");
  c.ap.mode =
      s.get_string(ev + "average_precision_mode") == "INTEGRATE" ? kd::ApMode::kIntegrate : kd::ApMode::kSample;
  const auto iou = map_paths(s, ev + "minimum_detection_ground_truth_overlap", c.classes, false);
  for (int i = 0; i < C; ++i)
    if (!iou[static_cast<size_t>(i)].empty()) c.ap.iou_thresholds[i] = f(s, iou[static_cast<size_t>(i)]);
  const auto boxes = map_paths(s, ev + "evaluation_box_config", c.classes, false);
  for (const std::string& v : boxes)
    c.evaluation_boxes.push_back(v.empty() ? EvaluationBox{}
                                           : EvaluationBox{static_cast<float>(s.get_int(v + ".minimum_height")),
                                                           static_cast<float>(s.get_int(v + ".maximum_height")),
                                                           static_cast<float>(s.get_int(v + ".minimum_width")),
                                                           static_cast<float>(s.get_int(v + ".maximum_width"))});
  return c;
}

}  // namespace kiln::runtime
