// A classification experiment as typed configuration, built from a validated spec. Cross-field rules the schema
// cannot express (an idx source needs images and labels; image_mean has one value per channel) are checked here and
// reported as SpecError with the spec's file:line:column.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kiln/networks/network.h"
#include "kiln/data/dataset.h"
#include "kiln/data/loader.h"
#include "kiln/runtime/mixed_precision.h"
#include "kiln/runtime/schedule.h"
#include "kiln/specs/spec.h"

namespace kiln::runtime {

struct SourceConfig {
  std::string key;   // spec path, e.g. "dataset_config.train" (for error messages)
  std::string type;  // idx | image_folder | shards
  std::string images, labels, root;
  size_t max_samples = 0;
  bool resize = true;  // image_folder: images of another size are resized to the input size
};

struct OptimizerConfig {
  std::string name = "sgd";  // sgd | adam
  double momentum = 0.9;
  bool nesterov = false;
  double beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7;
};

struct RegularizerConfig {
  std::string type = "L2";  // L1 | L2 | None
  bool conv = true, dense = true;  // scope "Conv2D,Dense"
  double weight_decay = 5e-4;
};

struct DataParallelConfig {
  bool linear_lr_scaling = false;
  double first_bucket_mb = 1.0, bucket_mb = 25.0;
  std::string gradient_compression = "none";  // none | fp16 | bf16
};

// When a training run saves checkpoints (train_config / training_config keys of the same names): every `every_epochs`
// epochs and after the last (TAO's checkpoint_interval); also every `every_steps` optimizer steps and every
// `every_minutes` of training when set (mid-epoch too); `keep` > 0 keeps only the newest that many files.
struct CheckpointPolicy {
  int64_t every_epochs = 1, every_steps = 0, keep = 0;
  double every_minutes = 0;
};
// Reads checkpoint_interval, checkpoint_interval_steps, checkpoint_interval_minutes and checkpoints_to_keep from the
// group `group` ("train_config").
CheckpointPolicy read_checkpoint_policy(const specs::Spec& spec, const std::string& group);

// TensorBoard event files (train_config / training_config .visualizer): the running loss and learning rate every
// `scalar_every` steps, the epoch's metrics, and `num_images` sample images with predictions every `images_every`
// epochs (docs/formats.md, "TensorBoard event files").
struct VisualizerConfig {
  bool enabled = false;
  int64_t num_images = 3, scalar_every = 10, images_every = 5;
};
VisualizerConfig read_visualizer(const specs::Spec& spec, const std::string& group);

struct ClassificationConfig {
  networks::Architecture arch;  // num_classes is set from the training data
  std::vector<int64_t> freeze_blocks;
  int64_t batch_size = 64, n_epochs = 10, n_workers = 2, random_seed = 42;
  CheckpointPolicy checkpoints;
  VisualizerConfig visualizer;
  AmpConfig amp;
  std::string memory_format = "auto";
  std::string pretrained_model_path;
  double label_smoothing = 0;
  OptimizerConfig optimizer;
  RegularizerConfig regularizer;
  LrSchedule schedule;  // learning_rate before any lr_scaling
  DataParallelConfig data_parallel;
  SourceConfig train;
  std::optional<SourceConfig> val;
  data::Augmentation augment;  // training augmentation; evaluation uses only the normalisation
  int64_t eval_batch_size = 256, top_k = 5, validation_period = 1;

  static ClassificationConfig from_spec(const specs::Spec& spec);
  data::ImageShape input_shape() const { return {arch.in_channels, arch.height, arch.width}; }
  data::Augmentation eval_transform() const;  // normalisation only
};

// Reads a source group of the spec (shared by the experiment and the dataset_convert specs).
SourceConfig source_from_spec(const specs::Spec& spec, const std::string& key);
// "C,H,W" → shape (the schema already checked the format).
data::ImageShape parse_image_size(const std::string& chw);

// The spec of `evaluate`: the training spec, of which only the evaluation source (dataset_config.val, else train)
// must exist — the training data may be on another machine. SpecError (exit 2) names a missing evaluation path.
ClassificationConfig evaluation_config(const std::string& spec_file, const std::vector<std::string>& overrides);

// Opens a dataset source and checks its image shape against `expected`; DataError names the files.
std::unique_ptr<data::Dataset> open_source(const SourceConfig& src, const data::ImageShape& expected);

// Validation must have the training set's classes (names, in label order): otherwise a label means another class in
// each, and validation accuracy is about a different model. DataError names both sources and the first difference.
void check_validation_classes(const data::Dataset& train, const SourceConfig& train_src, const data::Dataset& val,
                              const SourceConfig& val_src);

// The spec of a subtask that starts from a model file (export, inference): `spec_file` (-e) when given, else the spec
// stored in the model (kiln train and prune store one). Paths in it need not exist — the stored spec names data on
// the machine the model was trained on; opening a source that is missing is a DataError naming it. `origin` says
// where the spec came from, for messages. UsageError when there is neither.
struct ModelSpec {
  specs::Spec spec;
  std::string origin;
};
ModelSpec model_spec(const std::string& spec_file, const std::vector<std::string>& overrides,
                     const nlohmann::json& model_meta, const std::string& model_path);

// The spec a subtask would run with, as YAML (defaults filled, overrides applied, paths absolute), for `--dry-run`.
// `network` is "classification" or "detectnet_v2"; without `spec_file`, the spec stored in `model_path`. Paths need
// not exist here (each subtask's own check says which must). SpecError / UsageError / DataError as load_spec and
// read_model_file throw them.
std::string resolved_spec_yaml(const std::string& network, const std::string& spec_file,
                               const std::vector<std::string>& overrides, const std::string& model_path);

}  // namespace kiln::runtime
