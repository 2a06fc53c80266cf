// The DetectNet_v2 schemas (detectnet_v2.h). TAO's experiment spec and dataset_export_spec keys, with kiln's
// additions marked in their docs (docs/specs.md). TAO's maps (`target_class_config { key: "car" value {...} }`) are
// group lists of {key, value} items, its repeated messages group lists; the rules between keys are in
// detectnet_v2_rules.cpp.
#include "kiln/specs/detectnet_v2.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "detectnet_v2_rules.h"
#include "shared_fields.h"
#include "text.h"

namespace kiln::specs {
namespace {

using detail::format_number;
using detail::join;

Field with_check(Field f, std::function<std::string(const Value&)> check) {
  f.check = std::move(check);
  return f;
}

Field positive(Field f) {  // (0, max]
  f.exclusive_min = true;
  return f;
}

Field at_least_one(Field f) {
  f.min_len = 1;
  return f;
}

// ---------------------------------------------------------------------------------------------------------------
// dataset_convert

Field kitti_config() {
  Field num_partitions = integer("num_partitions", 2,
                                 "Folds of the random partition: 2 = fold 0 is the validation fold (val_split percent "
                                 "of the images), fold 1 the rest; 1 = one fold, no validation split.",
                                 1, 2);
  return group(
      "kitti_config",
      {required(path("root_directory_path", "The KITTI dataset root (holds image_dir_name and label_dir_name).")),
       string("image_dir_name", std::string("images"), "Images folder, relative to root_directory_path."),
       string("label_dir_name", std::string("labels"), "Labels folder (one .txt per image), relative to the root."),
       string("image_extension", std::string(".png"), "Image file extension, with the dot: .png, .jpg or .jpeg."),
       enumeration("partition_mode", {"random"}, std::string("random"),
                   "How images are split into folds. kiln implements random (TAO's sequence mode is not supported)."),
       num_partitions,
       real("val_split", 10.0, "Percent of the images (the first, sorted by name) in validation fold 0.", 0, 100),
       integer("num_shards", 4, "Shard files per fold (0 means 1).", 0, 4096),
       integer("random_seed", 42, "Seed of the within-fold shuffle (kiln; TAO fixes 42).", 0, 2147483647)},
      "The KITTI source (TAO's kitti_config).");
}

std::string check_extension(const Value& v) {
  std::string e = std::get<std::string>(v);
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return (e == ".png" || e == ".jpg" || e == ".jpeg") ? "" : "must be .png, .jpg or .jpeg, got '" + e + "'";
}

// ---------------------------------------------------------------------------------------------------------------
// The experiment spec

std::string one_of_ints(const Value& v, std::initializer_list<int64_t> allowed) {
  const int64_t n = std::get<int64_t>(v);
  std::vector<std::string> names;
  for (int64_t a : allowed) {
    if (n == a) return "";
    names.push_back(std::to_string(a));
  }
  const std::string last = names.back();
  names.pop_back();
  return "must be " + join(names, ", ") + " or " + last + ", got " + std::to_string(n);
}

// TAO's source classes are lower-cased by dataset_convert, so a mapping key with capitals would never match.
std::string check_source_class(const std::string& name) {
  for (char c : name) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      return "source classes are lower-case (dataset_convert lower-cases KITTI types), got '" + name + "'";
    }
  }
  return "";
}

std::string check_not_empty(const Value& v) { return std::get<std::string>(v).empty() ? "must not be empty" : ""; }

// One data source: TAO's DataSource, reading kiln shards instead of TFRecords.
Field data_source(std::string name, std::string doc) {
  Field tfrecords = with_check(
      string("tfrecords_path", std::nullopt,
             "TAO's TFRecords glob. Not supported: kiln reads `shards` (giving this key is an error that says so)."),
      [](const Value&) {
        return std::string("kiln reads kiln shards, not TFRecords: give `shards`, the folder written by "
                           "`kiln detectnet_v2 dataset_convert`");
      });
  return group(std::move(name),
               {required(path("shards",
                              "Folder written by `kiln detectnet_v2 dataset_convert` (index.json and its shards); "
                              "kiln's counterpart of TAO's tfrecords_path.")),
                tfrecords,
                path("image_directory_path",
                     "TAO's image root for this source. Ignored by kiln (the shards hold the images); accepted so "
                     "TAO specs load.",
                     false),
                positive(real("source_weight", 1.0, "Relative sampling weight of this source among data_sources.", 0,
                              1e6))},
               std::move(doc));
}

Field dataset_config() {
  Field sources = at_least_one(group_list("data_sources", data_source("", "").children,
                                          "Training data: one item per converted dataset (TAO's repeated "
                                          "data_sources)."));
  Field mapping = string_map("target_class_mapping",
                             "Class in the shards → target class trained (TAO's target_class_mapping). Several source "
                             "classes may map to one target; objects of classes not listed are ignored. Empty: every "
                             "class of the shards is its own target. When given, every target class needs a source.");
  mapping.key_check = check_source_class;
  return required(group(
      "dataset_config",
      {required(sources),
       enumeration("image_extension", {"png", "jpg", "jpeg"}, std::string("png"),
                   "TAO's image extension (no dot). Ignored by kiln: the shards store each encoded image as it was."),
       mapping,
       integer("validation_fold", std::nullopt,
               "Validate on this fold of data_sources and train on the others (0 = the val_split fold of a random "
               "partition). Give this or validation_data_source, not both; neither = no validation.",
               0, 1000),
       data_source("validation_data_source",
                   "Validate on all of these shards (e.g. a separately converted val/ folder). Absent = none."),
       integer("max_samples", 0, "Use only the first N training images (0 = all). kiln addition, for quick runs.", 0,
               1e9)},
      "Where the training and validation data are (TAO's dataset_config)."));
}

Field augmentation_config() {
  Field channels = with_check(integer("output_image_channel", 3, "Network input channels: 1 (grey) or 3 (RGB)."),
                              [](const Value& v) { return one_of_ints(v, {1, 3}); });
  Field preprocessing = group(
      "preprocessing",
      {required(integer("output_image_width", std::nullopt,
                        "Network input width in pixels; a multiple of model_config.stride (16 as TAO, or 8).", 8,
                        4096)),
       required(integer("output_image_height", std::nullopt,
                        "Network input height in pixels; a multiple of model_config.stride.", 8, 4096)),
       channels,
       real("min_bbox_width", 1.0, "Ground-truth boxes narrower than this (pixels, after augmentation) are dropped.",
            0, 4096),
       real("min_bbox_height", 1.0, "Ground-truth boxes lower than this (pixels, after augmentation) are dropped.", 0,
            4096),
       integer("crop_left", 0, "Left edge of the crop window in source-image pixels.", 0, 65536),
       integer("crop_top", 0, "Top edge of the crop window.", 0, 65536),
       integer("crop_right", 0, "Right edge of the crop window (0 with crop_bottom 0 = no crop).", 0, 65536),
       integer("crop_bottom", 0, "Bottom edge of the crop window (0 with crop_right 0 = no crop).", 0, 65536)},
      "Network input size and ground-truth filtering.");
  Field rotate = with_check(real("rotate_rad_max", 0.0, "Maximum rotation in radians. kiln does not rotate: only 0."),
                            [](const Value& v) {
                              return std::get<double>(v) == 0.0
                                         ? ""
                                         : "kiln does not rotate images (its boxes stay axis-aligned): only 0 is "
                                           "accepted, got " +
                                               format_number(std::get<double>(v));
                            });
  Field spatial =
      group("spatial_augmentation",
            {real("hflip_probability", 0.5, "Probability of a horizontal flip.", 0, 1),
             real("vflip_probability", 0.0, "Probability of a vertical flip.", 0, 1),
             positive(real("zoom_min", 1.0, "Smallest random zoom factor.", 0, 10)),
             positive(real("zoom_max", 1.0, "Largest random zoom factor (>= zoom_min; 1 and 1 = no zoom).", 0, 10)),
             real("translate_max_x", 8.0, "Largest random horizontal shift, in pixels.", 0, 4096),
             real("translate_max_y", 8.0, "Largest random vertical shift, in pixels.", 0, 4096), rotate},
            "Random geometric augmentation of training images (the boxes follow).");
  Field color =
      group("color_augmentation",
            {real("color_shift_stddev", 0.0, "Standard deviation of a random per-channel colour shift.", 0, 1),
             real("hue_rotation_max", 25.0, "Largest random hue rotation, in degrees.", 0, 360),
             real("saturation_shift_max", 0.2, "Largest random saturation change.", 0, 1),
             real("contrast_scale_max", 0.1, "Largest random contrast change.", 0, 1),
             real("contrast_center", 0.5, "Intensity the contrast is scaled around (of pixels in [0, 1]).", 0, 1)},
            "Random colour augmentation of training images (ignored for 1-channel input).");
  return required(group("augmentation_config", {required(preprocessing), spatial, color},
                        "Input size and training-time augmentation (TAO's augmentation_config)."));
}

Field model_config() {
  Field num_layers = with_check(integer("num_layers", 18, "ResNet depth: 10, 18 or 34."),
                                [](const Value& v) { return one_of_ints(v, {10, 18, 34}); });
  Field all_projections = with_check(
      boolean("all_projections", false,
              "TAO: a 1x1 projection shortcut in every residual block. kiln's ResNet projects only where the shape "
              "changes: only false."),
      [](const Value& v) {
        return std::get<bool>(v) ? "kiln's ResNet has projection shortcuts only where the shape changes: only false "
                                   "is accepted"
                                 : "";
      });
  Field freeze_blocks = with_check(
      float_list("freeze_blocks", {}, "Indices of ResNet blocks (0-4) whose weights stay fixed (numbers, as TAO).", 0,
                 4),
      [](const Value& v) {
        for (double b : std::get<std::vector<double>>(v)) {
          if (b != std::floor(b)) return "block indices are whole numbers, got " + format_number(b);
        }
        return std::string();
      });
  Field stride = with_check(integer("stride", 16,
                                    "Output grid stride in pixels (kiln addition): 16 as TAO, or 8 for small images "
                                    "and objects (a 2x finer grid, at about 4x the head cost)."),
                            [](const Value& v) { return one_of_ints(v, {8, 16}); });
  auto no_input = [](const Value& v) {
    return std::get<std::string>(v).empty()
               ? ""
               : "kiln attaches both heads to the backbone's output: leave input empty, got '" +
                     std::get<std::string>(v) + "'";
  };
  Field bbox_input = with_check(string("input", std::string(), "TAO's input layer of the head; kiln: only \"\"."),
                                no_input);
  Field objective_set = group(
      "objective_set",
      {group("bbox",
             {positive(real("scale", 35.0, "Box distances are divided by this (pixels) for the network.", 0, 1e4)),
              real("offset", 0.5, "Anchor of cell (i, j) is (stride·j + offset, stride·i + offset) in input pixels.",
                   0, 16),
              bbox_input},
             "The box regression head (4 distances per class and cell)."),
       group("cov", {bbox_input}, "The coverage head (one sigmoid map per class).")},
      "The two outputs (TAO's objective_set).");
  return required(group(
      "model_config",
      {path("pretrained_model_file", "Model to start from (also how retrain after prune is run); \"\" = none."),
       required(enumeration("arch", {"resnet"}, std::nullopt,
                            "Backbone. kiln implements resnet (TAO's vgg, darknet, mobilenet_v1/v2, squeezenet, "
                            "googlenet and efficientnet_b0 are not supported).")),
       num_layers, boolean("use_batch_norm", true, "Batch normalisation after each convolution."),
       boolean("freeze_bn", false, "Keep the batch-norm statistics and scales of the backbone fixed."),
       all_projections,
       real("dropout_rate", 0.0, "Dropout rate in the backbone.", 0, 0.95), freeze_blocks, objective_set, stride,
       integer("width", 64, "Channels of the first ResNet stage (kiln addition; TAO's resnets use 64).", 4, 1024)},
      "The network: a ResNet backbone with coverage and bbox heads (TAO's model_config)."));
}

Field class_map(std::string name, Field value, std::string doc) {
  return group_list(std::move(name),
                    {with_check(required(string("key", std::nullopt, "The target class.")), check_not_empty),
                     std::move(value)},
                    std::move(doc));
}

Field bbox_rasterizer_config() {
  Field value =
      group("value",
            {real("cov_center_x", 0.5, "Centre of the coverage ellipse, as a fraction of the box width.", 0, 1),
             real("cov_center_y", 0.5, "Centre of the coverage ellipse, as a fraction of the box height.", 0, 1),
             real("cov_radius_x", 0.4, "Horizontal radius, as a fraction of the distance to the nearer box edge.", 0,
                  1),
             real("cov_radius_y", 0.4, "Vertical radius, as a fraction of the distance to the nearer box edge.", 0, 1),
             real("bbox_min_radius", 1.0, "Smallest radius of the ellipse, in grid cells (the aspect is kept).", 0,
                  1)},
            "The class's coverage ellipse (docs/detection.md §3).");
  return required(group(
      "bbox_rasterizer_config",
      {required(class_map("target_class_config", value,
                          "One item per target class (TAO's map target_class_config): `- key: car` with its "
                          "`value: {...}`.")),
       real("deadzone_radius", 0.67, "Dead zone around each coverage ellipse, from the ellipse (0) to the box (1).",
            0, 1)},
      "How ground-truth boxes become coverage and bbox targets on the output grid (TAO's bbox_rasterizer_config)."));
}

Field cost_function_config() {
  Field foreground = with_check(positive(real("coverage_foreground_weight", 0.05,
                                              "Weight of coverage cells inside objects, in (0, 1); cells outside "
                                              "get 1 − this.",
                                              0, 1)),
                                [](const Value& v) {
                                  return std::get<double>(v) < 1 ? "" : "must be below 1 (the background gets 1 − it)";
                                });
  Field objectives = group_list(
      "objectives",
      {required(enumeration("name", {"cov", "bbox"}, std::nullopt, "The objective: cov or bbox.")),
       required(real("initial_weight", std::nullopt, "Starting weight (weights are normalised to sum 1).", 0, 1e6)),
       required(real("weight_target", std::nullopt, "Autoweighting target of this objective.", 0, 1e6))},
      "Each of cov and bbox once; none = TAO's default_spec (cov 1 / 1, bbox 10 / 10).");
  Field target_classes = at_least_one(group_list(
      "target_classes",
      {with_check(required(string("name", std::nullopt, "The class (each once).")), check_not_empty),
       positive(real("class_weight", 1.0, "Relative weight of this class in the loss.", 0, 1e6)), foreground,
       objectives},
      "The classes the detector is trained on; their order is the order of the output channels."));
  return required(group(
      "cost_function_config",
      {required(target_classes),
       boolean("enable_autoweighting", true,
               "After each epoch, reweight the objectives ∝ weight_target / mean cost (TAO's autoweighting)."),
       real("max_objective_weight", 0.9999, "Objective weights are clamped to at most this.", 0, 1),
       real("min_objective_weight", 0.0001, "Objective weights are clamped to at least this.", 0, 1)},
      "The loss: target classes and the weights of the cov and bbox objectives (TAO's cost_function_config)."));
}

Field training_config() {
  Field schedule = group(
      "soft_start_annealing_schedule",
      {positive(real("min_learning_rate", 5e-6, "Rate at the start and the end.", 0, 10)),
       positive(real("max_learning_rate", 5e-4, "Rate between soft_start and annealing.", 0, 10)),
       real("soft_start", 0.1, "Progress (0-1) at which the exponential warm-up reaches max_learning_rate.", 0, 1),
       real("annealing", 0.7, "Progress (0-1) from which the rate decays back to min_learning_rate.", 0, 1)},
      "lr = min × (max/min)^t, t rising linearly 0 → 1 until soft_start, 1 until annealing, then back to 0.");
  Field adam = group("adam", {real("epsilon", 1e-8, "Denominator stabiliser.", 1e-12, 1),
                              real("beta1", 0.9, "First-moment decay.", 0, 0.9999),
                              real("beta2", 0.999, "Second-moment decay.", 0, 0.99999)});
  return group(
      "training_config",
      detail::with_checkpoint_fields({integer("batch_size_per_gpu", 8, "Batch size per rank (the global batch is this × ranks).", 1, 65536),
       integer("num_epochs", 120, "Training epochs.", 1, 100000),
       integer("checkpoint_interval", 10, "Save a checkpoint every N epochs.", 1, 100000),
       one_of("learning_rate", {schedule}, "soft_start_annealing_schedule", "Learning-rate schedule (per step)."),
       group("regularizer",
             {enumeration("type", {"NO_REG", "L1", "L2"}, std::string("L1"), "Weight regulariser."),
              real("weight", 3e-9, "Regularisation weight.", 0, 1)},
             "Weight regularisation of the convolution kernels."),
       one_of("optimizer", {adam}, "adam", "TAO's DetectNet_v2 trains with Adam; the rate comes from learning_rate."),
       group("cost_scaling",
             {boolean("enabled", false, "Dynamic loss scaling."),
              real("initial_exponent", 20.0, "Starting scale, as a power of 2.", 0, 64),
              real("increment", 0.005, "Exponent increase per step without overflow.", 0, 64),
              real("decrement", 1.0, "Exponent decrease after an overflow.", 0, 64)},
             "TAO's loss scaling for mixed precision. Accepted and ignored: kiln's is training_config.amp (dynamic loss scaling for fp16)."),
       integer("n_workers", 2, "Data loader threads per rank (kiln addition).", 0, 64),
       detail::visualizer_group(),
       detail::amp_group(),
       detail::memory_format_field(),
       detail::data_parallel_group("none: the rates as written, as TAO's DetectNet_v2; linear: min and max "
                                   "learning rates × ranks (docs/specs.md, 'Learning rate and ranks').",
                                   "Multi-rank training (kiln addition; ignored on one rank).")}),
      "Training (TAO's training_config).");
}

Field postprocessing_config() {
  Field clustering = group(
      "clustering_config",
      {enumeration("clustering_algorithm", {"DBSCAN", "NMS"}, std::string("DBSCAN"),
                   "How candidate boxes are merged (TAO TF1 rejects HYBRID too)."),
       real("coverage_threshold", 0.005, "A grid cell is a candidate when its coverage is above this.", 0, 1),
       real("dbscan_eps", 0.13, "DBSCAN: two candidates are neighbours when 1 − IoU <= this.", 0, 1),
       real("dbscan_min_samples", 1.0, "DBSCAN: summed coverage a core point's neighbourhood needs (as TAO, "
                                       "max(floor(this), 1)).",
            0, 1e6),
       integer("minimum_bounding_box_height", 20, "DBSCAN: boxes must be taller than this (pixels).", 0, 65536),
       real("dbscan_confidence_threshold", 0.0, "DBSCAN: clusters need at least this confidence (summed coverage).",
            0, 1e6),
       real("nms_iou_threshold", 0.0, "NMS: a box suppresses later ones whose IoU with it is above this.", 0, 1),
       real("nms_confidence_threshold", 0.0, "NMS: detections need coverage above this.", 0, 1)},
      "TAO's clustering_config (docs/detection_postprocessing.md).");
  return required(group(
      "postprocessing_config",
      {required(class_map("target_class_config", group("value", {clustering}, "The class's post-processing."),
                          "One item per target class (TAO's map target_class_config): `- key: car` with its "
                          "`value: {clustering_config: {...}}`."))},
      "How the grid outputs become boxes, per class (TAO's postprocessing_config)."));
}

Field evaluation_config() {
  Field box = group("value",
                    {integer("minimum_height", 0, "Smallest height (pixels).", 0, 65536),
                     integer("maximum_height", 9999, "Largest height.", 0, 65536),
                     integer("minimum_width", 0, "Smallest width.", 0, 65536),
                     integer("maximum_width", 9999, "Largest width.", 0, 65536)},
                    "Size limits of the boxes that count.");
  return group(
      "evaluation_config",
      {integer("validation_period_during_training", 10, "Validate every N epochs (0 = never).", 0, 100000),
       integer("first_validation_epoch", 1, "First epoch after which validation runs.", 1, 100000),
       class_map("minimum_detection_ground_truth_overlap",
                 real("value", 0.5, "IoU a detection needs with a ground-truth box to match it.", 0, 1),
                 "Per class (TAO's map): `- {key: car, value: 0.7}`. Classes not listed use 0.5."),
       class_map("evaluation_box_config", box,
                 "Per class (TAO's map): ground truth and detections outside these sizes are left out of AP. "
                 "Classes not listed: no limits."),
       enumeration("average_precision_mode", {"SAMPLE", "INTEGRATE"}, std::string("SAMPLE"),
                   "SAMPLE: VOC2007 11-point AP; INTEGRATE: area under the precision-recall curve.")},
      "Validation during training and `evaluate` (TAO's evaluation_config).");
}

// What `detectnet_v2 inference` writes (TAO's inference spec block of the same name): label files hold every
// clustered box, as evaluation scores them; drawings only the boxes a user would act on.
Field bbox_handler_config() {
  Field colour = group("bbox_color",
                       {integer("R", std::nullopt, "Red.", 0, 255), integer("G", std::nullopt, "Green.", 0, 255),
                        integer("B", std::nullopt, "Blue.", 0, 255)},
                       "Box colour; components not given are 0 (as TAO's proto3 message). Default: kiln's palette.");
  Field value = group("value",
                      {real("confidence_threshold", std::nullopt,
                            "Draw this class's boxes with at least this confidence (default: the group's).", 0, 1e6),
                       colour},
                      "The class's drawing settings.");
  return group(
      "bbox_handler_config",
      {boolean("kitti_dump", true, "Write labels/<image>.txt: every clustered box with its confidence (KITTI)."),
       boolean("disable_overlay", false, "Do not write images_annotated/ (the drawn boxes)."),
       integer("overlay_linewidth", 2, "Box outline width in pixels of the drawn image.", 1, 64),
       real("confidence_threshold", 0.3,
            "Boxes drawn need at least this confidence (NMS: the coverage, 0-1; DBSCAN: summed coverage); "
            "labels/ keeps every box. kiln addition: TAO sets it per class only.",
            0, 1e6),
       class_map("classwise_bbox_handler_config", value,
                 "Per class (TAO's map): `- {key: car, value: {confidence_threshold: 0.5, bbox_color: {R: 0, G: "
                 "255, B: 0}}}`. Classes not listed use the group's threshold and kiln's palette.")},
      "What `detectnet_v2 inference` writes (TAO's inference bbox_handler_config).");
}

}  // namespace

const Schema& detectnet_v2_schema() {
  static const Schema schema{
      "detectnet_v2",
      {integer("random_seed", 42, "Seed for initialisation, shuffling and augmentation (TAO's top-level key).", 0,
               2147483647.0),
       dataset_config(), augmentation_config(), model_config(), bbox_rasterizer_config(), cost_function_config(),
       training_config(), postprocessing_config(), evaluation_config(), bbox_handler_config()},
      detail::check_detectnet_v2_experiment};
  return schema;
}

const Schema& detectnet_v2_convert_schema() {
  static const Schema schema = [] {
    Field kitti = kitti_config();
    for (Field& f : kitti.children)
      if (f.name == "image_extension") f.check = check_extension;
    return Schema{"detectnet_v2_convert",
                  {required(kitti), string_map("target_class_mapping",
                                     "Source class (lower-cased KITTI type) → training class. Objects of classes "
                                     "not listed are left out and counted. Empty: every class maps to itself.")}};
  }();
  return schema;
}

}  // namespace kiln::specs
