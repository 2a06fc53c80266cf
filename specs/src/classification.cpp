// The classification schemas. Key names and meanings follow TAO's classification spec so a TAO user recognises every
// line; kiln's additions are noted in docs/specs.md.
#include "kiln/specs/classification.h"

#include <algorithm>
#include <cmath>

#include "shared_fields.h"
#include "text.h"

namespace kiln::specs {
namespace {

using detail::format_float;
using detail::format_number;
using detail::parse_int;
using detail::split;

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

std::string check_image_size(const Value& value) {
  const std::string& text = std::get<std::string>(value);
  const std::vector<std::string> parts = split(text, ',');
  std::vector<int64_t> dims;
  for (const auto& part : parts) {
    if (auto v = parse_int(trim(part))) dims.push_back(*v);
  }
  if (parts.size() != 3 || dims.size() != 3) {
    return "expected \"C,H,W\" with integers (e.g. \"1,28,28\"), got '" + text + "'";
  }
  if (dims[0] != 1 && dims[0] != 3) return "channels (C) must be 1 or 3, got " + std::to_string(dims[0]);
  for (size_t i : {1, 2}) {
    if (dims[i] < 8 || dims[i] > 4096) {
      return std::string(i == 1 ? "height (H)" : "width (W)") + " must be in [8, 4096], got " + std::to_string(dims[i]);
    }
  }
  return "";
}

std::string check_n_layers(const Value& value) {
  const int64_t n = std::get<int64_t>(value);
  return (n == 10 || n == 18 || n == 34) ? "" : "must be one of 10, 18, 34, got " + std::to_string(n);
}

Field with_check(Field f, std::function<std::string(const Value&)> check) {
  f.check = std::move(check);
  return f;
}

Field with_length(Field f, size_t min_len, size_t max_len) {
  f.min_len = min_len;
  f.max_len = max_len;
  return f;
}

Field image_size(std::optional<std::string> def) {
  return with_check(string("input_image_size", std::move(def),
                           "Network input \"C,H,W\": C is 1 (grey) or 3 (RGB); H and W in [8, 4096]."),
                    check_image_size);
}

// kiln normalises pixels scaled to [0, 1]; TAO (and Caffe/Keras "caffe" preprocessing) writes means and stds of 0-255
// pixels (103.939, 116.779, 123.68). Such a value would train on garbage silently, so it is an error that converts it.
std::function<std::string(const Value&)> unit_scale_check(const char* what) {
  return [what](const Value& value) -> std::string {
    for (double v : std::get<std::vector<double>>(value)) {
      if (v <= 1.0) continue;
      return std::string("kiln's ") + what + " is of pixels scaled to [0, 1]; " + format_number(v) +
             " looks like TAO's 0-255 convention: divide by 255 (" + format_number(v) + " -> " +
             format_float(std::round(v / 255.0 * 1e4) / 1e4) + ")";
    }
    return "";
  };
}

// Shared by dataset_config.train/val and the convert spec's source, so all three accept the same sources.
Field source_group(std::string name, std::string doc) {
  return group(std::move(name),
               {required(enumeration("type", {"idx", "image_folder", "shards"}, std::nullopt,
                                     "Dataset format: IDX files (Fashion-MNIST/MNIST), one folder per class, or "
                                     "kiln shards written by dataset_convert.")),
                path("images", "IDX images file (type idx), e.g. train-images-idx3-ubyte.gz."),
                path("labels", "IDX labels file (type idx)."),
                path("root", "Folder of class folders (type image_folder) or of shards (type shards)."),
                boolean("resize", true,
                        "type image_folder: resize images of another size to input_image_size as they are read "
                        "(as TAO); false makes such an image an error. IDX files and shards have one size, which "
                        "must match."),
                integer("max_samples", 0, "Use only the first N samples (0 = all).", 0, 1e9)},
               std::move(doc));
}

Field learning_rate() {
  Field f =
      real("learning_rate", 0.01,
           "Base learning rate; used as written on any number of ranks unless train_config.data_parallel."
           "lr_scaling is linear (TAO multiplies it by the GPUs; docs/specs.md, 'Learning rate and ranks').",
           0, 10);
  f.exclusive_min = true;
  return f;
}

Field soft_start() {
  return real("soft_start", 0.0, "Fraction of training spent warming up to the base learning rate.", 0, 1);
}

Field model_config() {
  return required(
      group("model_config",
            {required(enumeration("arch", {"lenet5", "resnet", "mobilenet_v2"}, std::nullopt, "Network architecture.")),
             with_check(integer("n_layers", 18, "ResNet depth: 10, 18 or 34 (ignored by lenet5 and mobilenet_v2)."),
                        check_n_layers),
             boolean("use_batch_norm", true, "Batch normalisation after each convolution."),
             boolean("use_bias", false, "Bias in convolutions (redundant with batch norm)."),
             required(image_size(std::nullopt)),
             int_list("freeze_blocks", {}, "Indices of blocks whose weights stay fixed during training (lenet5 0-3, resnet 0-4, mobilenet_v2 0-8).", 0, 8),
             integer("width", 64, "ResNet base channel count (the first stage's width).", 4, 1024),
             real("dropout", 0.0, "Dropout rate before the classifier.", 0, 0.95)},
            "The network."));
}

Field train_config() {
  Field sgd =
      group("sgd", {real("momentum", 0.9, "Momentum.", 0, 0.999), boolean("nesterov", false, "Nesterov momentum.")});
  Field adam = group("adam", {real("beta_1", 0.9, "First-moment decay.", 0, 0.9999),
                              real("beta_2", 0.999, "Second-moment decay.", 0, 0.99999),
                              real("epsilon", 1e-7, "Denominator stabiliser.", 1e-12, 1)});
  Field step =
      group("step",
            {learning_rate(), real("step_size", 10, "Decay period, in percent of the total steps.", 0.001, 100),
             real("gamma", 0.1, "Decay factor per period (the exponent is not floored).", 0, 1)},
            "lr = base × gamma^(step / (total × step_size / 100)).");
  Field soft_anneal =
      group("soft_anneal",
            {learning_rate(), soft_start(),
             float_list("annealing_points", {0.33, 0.67}, "Progress fractions at which the rate is divided.", 0, 1),
             real("annealing_divider", 10, "Divisor applied at each annealing point.", 1, 1e6)},
            "Linear warm-up from 3e-4 to base until soft_start, then base ÷ divider per annealing point passed.");
  Field cosine =
      group("cosine",
            {learning_rate(), real("min_lr_ratio", 0.01, "Minimum rate as a fraction of base.", 0, 1), soft_start()},
            "Warm-up from base × min_lr_ratio, then a cosine decay to it.");
  return group(
      "train_config",
      detail::with_checkpoint_fields({integer("batch_size_per_gpu", 64, "Batch size per rank (the global batch is this × ranks).", 1, 65536),
       integer("n_epochs", 10, "Training epochs.", 1, 100000),
       integer("n_workers", 2, "Data loader threads per rank.", 0, 64),
       integer("random_seed", 42, "Seed for initialisation, shuffling and augmentation.", 0, 2147483647.0),
       integer("checkpoint_interval", 1, "Save a checkpoint every N epochs.", 1, 100000),
       path("pretrained_model_path", "Model to start from (also how retrain after prune is run); \"\" = none."),
       real("label_smoothing", 0.0, "Label smoothing of the cross-entropy loss.", 0, 0.99),
       one_of("optimizer", {sgd, adam}, "sgd", "The learning rate comes from lr_config, as in TAO."),
       group("reg_config",
             {enumeration("type", {"L1", "L2", "None"}, std::string("L2"), "Weight regulariser."),
              string("scope", std::string("Conv2D,Dense"), "Layer types regularised (comma-separated)."),
              real("weight_decay", 5e-4, "Regularisation weight.", 0, 1)},
             "Weight regularisation."),
       one_of("lr_config", {step, soft_anneal, cosine}, "cosine", "Learning-rate schedule (per step)."),
       detail::visualizer_group(),
       detail::amp_group(),
       detail::memory_format_field(),
       detail::data_parallel_group("none: learning_rate as written; linear: learning_rate × ranks, TAO's rule for "
                                   "classification (docs/specs.md, 'Learning rate and ranks').",
                                   "Multi-rank training (ignored on one rank).")}),
      "Training.");
}

Field dataset_config() {
  Field image_std = with_check(
      with_length(float_list("image_std", {0.3530}, "Per-channel std (of pixels scaled to [0, 1]; TAO's 0-255 values "
                                                    "are an error that says so).", 1e-6),
                  1, 3),
      unit_scale_check("image_std"));
  return required(
      group("dataset_config",
            {required(source_group("train", "Training data.")),
             source_group("val", "Validation data; absent = no validation during training."),
             with_check(with_length(float_list("image_mean", {0.2860},
                                               "Per-channel mean (of pixels scaled to [0, 1]; TAO's 0-255 values "
                                               "are an error that says so).",
                                               0),
                                    1, 3),
                        unit_scale_check("image_mean")),
             image_std,
             group("augmentation",
                   {boolean("enable_random_crop", false, "Random crop after padding by crop_padding pixels."),
                    integer("crop_padding", 4, "Padding (pixels per side) before the random crop.", 0, 64),
                    boolean("disable_horizontal_flip", true, "No random horizontal flips (set false to enable them).")},
                   "Training-time augmentation.")},
            "Where the data is and how it is normalised."));
}

Field eval_config() {
  return group("eval_config",
               {integer("batch_size", 256, "Evaluation batch size per rank.", 1, 65536),
                integer("top_k", 5, "k of the top-k accuracy.", 1, 1000),
                integer("validation_period_during_training", 1, "Validate every N epochs (0 = never).", 0, 100000)},
               "Evaluation.");
}

}  // namespace

const Schema& classification_schema() {
  static const Schema schema{"classification", {model_config(), train_config(), dataset_config(), eval_config()}};
  return schema;
}

const Schema& classification_convert_schema() {
  static const Schema schema{
      "classification_convert",
      {required(source_group("source", "The dataset to convert.")), image_size(std::string("1,28,28")),
       integer("num_shards", 4, "Number of shard files written.", 1, 4096)}};
  return schema;
}

}  // namespace kiln::specs
