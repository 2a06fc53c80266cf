#include "kiln/runtime/experiment.h"

#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kiln/common/error.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/runtime/model_file.h"
#include "kiln/specs/classification.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::runtime {
namespace {

void require(std::vector<specs::SpecIssue>& issues, const specs::Spec& spec, const std::string& path, bool ok,
             const std::string& message) {
  if (!ok) issues.push_back({spec.location(path), path, message});
}

}  // namespace

CheckpointPolicy read_checkpoint_policy(const specs::Spec& spec, const std::string& group) {
  CheckpointPolicy p;
  p.every_epochs = spec.get_int(group + ".checkpoint_interval");
  p.every_steps = spec.get_int(group + ".checkpoint_interval_steps");
  p.every_minutes = spec.get_float(group + ".checkpoint_interval_minutes");
  p.keep = spec.get_int(group + ".checkpoints_to_keep");
  return p;
}

VisualizerConfig read_visualizer(const specs::Spec& spec, const std::string& group) {
  const std::string g = group + ".visualizer.";
  return {spec.get_bool(g + "enabled"), spec.get_int(g + "num_images"), spec.get_int(g + "scalar_logging_frequency"),
          spec.get_int(g + "infrequent_logging_frequency")};
}

data::ImageShape parse_image_size(const std::string& chw) {
  data::ImageShape s;
  char c1 = 0, c2 = 0;
  std::istringstream is(chw);
  if (!(is >> s.channels >> c1 >> s.height >> c2 >> s.width) || c1 != ',' || c2 != ',')
    throw UsageError("input_image_size '" + chw + "' is not C,H,W");
  return s;
}

SourceConfig source_from_spec(const specs::Spec& spec, const std::string& key) {
  SourceConfig s;
  s.key = key;
  s.type = spec.get_string(key + ".type");
  s.images = spec.get_string(key + ".images");
  s.labels = spec.get_string(key + ".labels");
  s.root = spec.get_string(key + ".root");
  s.max_samples = static_cast<size_t>(spec.get_int(key + ".max_samples"));
  s.resize = spec.get_bool(key + ".resize");
  std::vector<specs::SpecIssue> issues;
  if (s.type == "idx") {
    require(issues, spec, key + ".images", !s.images.empty(), "an idx source needs 'images' (the IDX image file)");
    require(issues, spec, key + ".labels", !s.labels.empty(), "an idx source needs 'labels' (the IDX label file)");
  } else {
    require(issues, spec, key + ".root", !s.root.empty(),
            "a " + s.type + " source needs 'root' (" + (s.type == "shards" ? "the dataset_convert output" : "one folder per class") + ")");
  }
  if (!issues.empty()) throw specs::SpecError(issues);
  return s;
}

ClassificationConfig ClassificationConfig::from_spec(const specs::Spec& spec) {
  ClassificationConfig c;
  std::vector<specs::SpecIssue> issues;

  auto& a = c.arch;
  a.arch = spec.get_string("model_config.arch");
  a.n_layers = static_cast<int>(spec.get_int("model_config.n_layers"));
  a.use_batch_norm = spec.get_bool("model_config.use_batch_norm");
  a.use_bias = spec.get_bool("model_config.use_bias");
  a.dropout = spec.get_float("model_config.dropout");
  a.base_width = static_cast<int>(spec.get_int("model_config.width"));
  const data::ImageShape shape = parse_image_size(spec.get_string("model_config.input_image_size"));
  a.in_channels = shape.channels, a.height = shape.height, a.width = shape.width;
  c.freeze_blocks = spec.get_int_list("model_config.freeze_blocks");

  c.batch_size = spec.get_int("train_config.batch_size_per_gpu");
  c.n_epochs = spec.get_int("train_config.n_epochs");
  c.n_workers = spec.get_int("train_config.n_workers");
  c.random_seed = spec.get_int("train_config.random_seed");
  c.checkpoints = read_checkpoint_policy(spec, "train_config");
  c.visualizer = read_visualizer(spec, "train_config");
  c.amp = read_amp(spec, "train_config.amp");
  c.memory_format = spec.get_string("train_config.memory_format");
  c.pretrained_model_path = spec.get_string("train_config.pretrained_model_path");
  c.label_smoothing = spec.get_float("train_config.label_smoothing");

  c.optimizer.name = spec.choice("train_config.optimizer");
  if (c.optimizer.name == "sgd") {
    c.optimizer.momentum = spec.get_float("train_config.optimizer.sgd.momentum");
    c.optimizer.nesterov = spec.get_bool("train_config.optimizer.sgd.nesterov");
    require(issues, spec, "train_config.optimizer.sgd.nesterov", !c.optimizer.nesterov || c.optimizer.momentum > 0,
            "nesterov needs momentum > 0");
  } else {
    c.optimizer.beta_1 = spec.get_float("train_config.optimizer.adam.beta_1");
    c.optimizer.beta_2 = spec.get_float("train_config.optimizer.adam.beta_2");
    c.optimizer.epsilon = spec.get_float("train_config.optimizer.adam.epsilon");
  }

  c.regularizer.type = spec.get_string("train_config.reg_config.type");
  c.regularizer.weight_decay = spec.get_float("train_config.reg_config.weight_decay");
  const std::string scope = spec.get_string("train_config.reg_config.scope");
  c.regularizer.conv = scope.find("Conv2D") != std::string::npos;
  c.regularizer.dense = scope.find("Dense") != std::string::npos;
  require(issues, spec, "train_config.reg_config.scope",
          c.regularizer.type == "None" || c.regularizer.conv || c.regularizer.dense,
          "scope '" + scope + "' names no known layer type (use Conv2D and/or Dense)");

  const std::string lr = "train_config.lr_config." + spec.choice("train_config.lr_config");
  auto& s = c.schedule;
  s.learning_rate = spec.get_float(lr + ".learning_rate");
  if (spec.choice("train_config.lr_config") == "step") {
    s.kind = LrSchedule::Kind::kStep;
    s.step_size = spec.get_float(lr + ".step_size");
    s.gamma = spec.get_float(lr + ".gamma");
  } else if (spec.choice("train_config.lr_config") == "soft_anneal") {
    s.kind = LrSchedule::Kind::kSoftAnneal;
    s.soft_start = spec.get_float(lr + ".soft_start");
    s.annealing_points = spec.get_float_list(lr + ".annealing_points");
    s.annealing_divider = spec.get_float(lr + ".annealing_divider");
  } else {
    s.kind = LrSchedule::Kind::kCosine;
    s.min_lr_ratio = spec.get_float(lr + ".min_lr_ratio");
    s.soft_start = spec.get_float(lr + ".soft_start");
  }

  c.data_parallel.linear_lr_scaling = spec.get_string("train_config.data_parallel.lr_scaling") == "linear";
  c.data_parallel.first_bucket_mb = spec.get_float("train_config.data_parallel.first_bucket_mb");
  c.data_parallel.bucket_mb = spec.get_float("train_config.data_parallel.bucket_mb");
  c.data_parallel.gradient_compression = spec.get_string("train_config.data_parallel.gradient_compression");

  try {
    c.train = source_from_spec(spec, "dataset_config.train");
  } catch (const specs::SpecError& e) {
    issues.insert(issues.end(), e.issues().begin(), e.issues().end());
  }
  if (spec.has("dataset_config.val.type")) {
    try {
      c.val = source_from_spec(spec, "dataset_config.val");
    } catch (const specs::SpecError& e) {
      issues.insert(issues.end(), e.issues().begin(), e.issues().end());
    }
  }
  const auto& mean = spec.get_float_list("dataset_config.image_mean");
  const auto& std_ = spec.get_float_list("dataset_config.image_std");
  const auto channels = static_cast<size_t>(shape.channels);
  const std::string per_channel = channels == 1 ? "needs 1 value: model_config.input_image_size has 1 channel"
                                                : "needs 1 value, or one per channel (" + std::to_string(channels) + ")";
  require(issues, spec, "dataset_config.image_mean", mean.size() == 1 || mean.size() == channels, per_channel);
  require(issues, spec, "dataset_config.image_std", std_.size() == 1 || std_.size() == channels, per_channel);
  for (size_t ch = 0; ch < channels; ++ch) {
    c.augment.mean.resize(channels), c.augment.std.resize(channels);
    c.augment.mean[ch] = static_cast<float>(mean[std::min(ch, mean.size() - 1)]);
    c.augment.std[ch] = static_cast<float>(std_[std::min(ch, std_.size() - 1)]);
  }
  c.augment.random_crop = spec.get_bool("dataset_config.augmentation.enable_random_crop");
  c.augment.crop_padding = static_cast<int>(spec.get_int("dataset_config.augmentation.crop_padding"));
  c.augment.horizontal_flip = !spec.get_bool("dataset_config.augmentation.disable_horizontal_flip");

  c.eval_batch_size = spec.get_int("eval_config.batch_size");
  c.top_k = spec.get_int("eval_config.top_k");
  c.validation_period = spec.get_int("eval_config.validation_period_during_training");

  static const std::map<std::string, std::pair<int, std::string>> kFreezeBlocks{
      {"lenet5", {4, "0-3 (conv1, conv2, fc1, fc2)"}},
      {"resnet", {5, "0-4 (0 stem, 1-4 stages)"}},
      {"mobilenet_v2", {9, "0-8 (0 stem, 1-7 stages, 8 last conv)"}}};
  if (auto it = kFreezeBlocks.find(a.arch); it != kFreezeBlocks.end())
    for (int64_t b : c.freeze_blocks)
      require(issues, spec, "model_config.freeze_blocks", b < it->second.first,
              a.arch + " has freeze blocks " + it->second.second + ", got " + std::to_string(b));
  if (!issues.empty()) throw specs::SpecError(issues);
  return c;
}

data::Augmentation ClassificationConfig::eval_transform() const {
  data::Augmentation t;
  t.mean = augment.mean;
  t.std = augment.std;
  return t;
}

std::unique_ptr<data::Dataset> open_source(const SourceConfig& src, const data::ImageShape& expected) {
  std::unique_ptr<data::Dataset> ds;
  if (src.type == "idx")
    ds = data::open_idx(src.images, src.labels, src.max_samples);
  else if (src.type == "image_folder")
    ds = data::open_image_folder(src.root, expected, src.max_samples, src.resize);
  else
    ds = data::open_shards(src.root, src.max_samples);
  if (!(ds->shape() == expected))
    throw DataError(src.key + ": images of " + (src.type == "idx" ? src.images : src.root) + " are " +
                    ds->shape().str() + " (C,H,W) but model_config.input_image_size is " + expected.str());
  if (ds->size() == 0) throw DataError(src.key + ": no records in " + (src.type == "idx" ? src.images : src.root));
  return ds;
}

namespace {
std::string source_path_of(const SourceConfig& src) { return src.type == "idx" ? src.labels : src.root; }
}  // namespace

void check_validation_classes(const data::Dataset& train, const SourceConfig& train_src, const data::Dataset& val,
                              const SourceConfig& val_src) {
  const auto &t = train.class_names(), &v = val.class_names();
  if (t == v) return;
  size_t i = 0;
  while (i < t.size() && i < v.size() && t[i] == v[i]) ++i;
  const std::string difference =
      t.size() != v.size()
          ? "validation has " + std::to_string(v.size()) + " classes, training " + std::to_string(t.size())
          : "class " + std::to_string(i) + " is '" + v[i] + "' in validation but '" + t[i] + "' in training";
  throw DataError(val_src.key + " (" + source_path_of(val_src) + ") and " + train_src.key + " (" +
                  source_path_of(train_src) + ") have different classes: " + difference);
}

namespace {
const specs::Schema& classification_schema_without_path_checks() {
  static const specs::Schema schema = specs::without_path_checks(specs::classification_schema());
  return schema;
}
}  // namespace

ClassificationConfig evaluation_config(const std::string& spec_file, const std::vector<std::string>& overrides) {
  const specs::Spec spec = specs::load_spec(classification_schema_without_path_checks(), spec_file, overrides);
  ClassificationConfig cfg = ClassificationConfig::from_spec(spec);
  const std::string& key = cfg.val ? cfg.val->key : cfg.train.key;
  specs::require_existing_paths(spec, {key + ".images", key + ".labels", key + ".root"});
  return cfg;
}

ModelSpec model_spec(const std::string& spec_file, const std::vector<std::string>& overrides,
                     const nlohmann::json& model_meta, const std::string& model_path) {
  const specs::Schema& schema = classification_schema_without_path_checks();
  if (!spec_file.empty()) return {specs::load_spec(schema, spec_file, overrides), spec_file};
  const auto it = model_meta.find("spec");
  const std::string stored = it != model_meta.end() && it->is_string() ? it->get<std::string>() : "";
  if (stored.empty())
    throw UsageError(model_path + ": the model file holds no spec (kiln train and prune store one); pass the "
                     "spec the model was trained with: -e spec.yaml");
  return {specs::load_spec_text(schema, stored, model_path + " (stored spec)", "/", overrides),
          "the spec stored in " + model_path};
}

std::string resolved_spec_yaml(const std::string& network, const std::string& spec_file,
                               const std::vector<std::string>& overrides, const std::string& model_path) {
  if (network == "classification") {
    const nlohmann::json meta = spec_file.empty() ? read_model_file(model_path).meta : nlohmann::json::object();
    return model_spec(spec_file, overrides, meta, model_path).spec.to_yaml();
  }
  if (network != "detectnet_v2") throw Error("resolved_spec_yaml: unknown network '" + network + "'");
  if (spec_file.empty()) throw UsageError("detectnet_v2 needs its experiment spec: -e spec.yaml");
  return specs::load_spec(detectnet_schema_without_path_checks(), spec_file, overrides).to_yaml();
}

}  // namespace kiln::runtime
