// The classification schemas: TAO's keys and defaults, realistic specs accepted, bad ones rejected precisely.
#include "kiln/specs/classification.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using Lines = std::vector<std::string>;
using testing::issues_of;
using testing::TempDir;

const char* kMinimal =
    "model_config:\n  arch: resnet\n  input_image_size: 3,32,32\n"
    "dataset_config:\n  train:\n    type: image_folder\n    root: images\n";

class Classification : public ::testing::Test {
 protected:
  Classification() {
    dir_.write("images/cat/1.png", "");
    dir_.write("fmnist/train-images.gz", "");
    dir_.write("fmnist/train-labels.gz", "");
    dir_.write("models/pretrained.kiln", "");
  }
  Spec load(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    return load_spec(classification_schema(), dir_.write("spec.yaml", yaml), overrides);
  }
  Lines problems(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    const std::string file = dir_.write("spec.yaml", yaml);
    Lines lines = issues_of([&] { load_spec(classification_schema(), file, overrides); });
    for (auto& line : lines) {
      if (line.rfind(file, 0) == 0) line = "spec.yaml" + line.substr(file.size());
    }
    return lines;
  }

  TempDir dir_;
};

TEST_F(Classification, AcceptsACompleteRealisticSpec) {
  Spec spec = load(R"(# Fashion-MNIST on a ResNet-10, adam and a stepped schedule
model_config:
  arch: resnet
  n_layers: 10
  use_batch_norm: true
  use_bias: false
  input_image_size: "1,28,28"
  freeze_blocks: [0, 1]
  width: 32
  dropout: 0.2
train_config:
  batch_size_per_gpu: 128
  n_epochs: 30
  n_workers: 4
  random_seed: 7
  checkpoint_interval: 5
  pretrained_model_path: models/pretrained.kiln
  label_smoothing: 0.1
  optimizer:
    adam:
      beta_1: 0.85
      beta_2: 0.995
      epsilon: 1e-8
  reg_config:
    type: L1
    scope: Conv2D
    weight_decay: 1e-5
  lr_config:
    step:
      learning_rate: 0.002
      step_size: 25
      gamma: 0.5
dataset_config:
  train:
    type: idx
    images: fmnist/train-images.gz
    labels: fmnist/train-labels.gz
    max_samples: 5000
  val:
    type: image_folder
    root: images/
  image_mean: [0.5]
  image_std: [0.25]
  augmentation:
    enable_random_crop: true
    crop_padding: 2
    disable_horizontal_flip: false
eval_config:
  batch_size: 512
  top_k: 3
  validation_period_during_training: 2
)");
  EXPECT_EQ(spec.get_string("model_config.arch"), "resnet");
  EXPECT_EQ(spec.get_int("model_config.n_layers"), 10);
  EXPECT_EQ(spec.get_int_list("model_config.freeze_blocks"), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(spec.get_float("model_config.dropout"), 0.2);
  EXPECT_EQ(spec.get_string("train_config.pretrained_model_path"), dir_.path() + "/models/pretrained.kiln");
  EXPECT_EQ(spec.choice("train_config.optimizer"), "adam");
  EXPECT_EQ(spec.get_float("train_config.optimizer.adam.epsilon"), 1e-8);
  EXPECT_EQ(spec.get_string("train_config.reg_config.type"), "L1");
  EXPECT_EQ(spec.choice("train_config.lr_config"), "step");
  EXPECT_EQ(spec.get_float("train_config.lr_config.step.step_size"), 25.0);
  EXPECT_EQ(spec.get_string("dataset_config.train.images"), dir_.path() + "/fmnist/train-images.gz");
  EXPECT_EQ(spec.get_string("dataset_config.train.root"), "");
  EXPECT_EQ(spec.get_int("dataset_config.train.max_samples"), 5000);
  EXPECT_EQ(spec.get_string("dataset_config.val.root"), dir_.path() + "/images");
  EXPECT_TRUE(spec.get_bool("dataset_config.augmentation.enable_random_crop"));
  EXPECT_EQ(spec.get_int("eval_config.validation_period_during_training"), 2);
  Spec reloaded = load_spec_text(classification_schema(), spec.to_yaml(), "reloaded", "/");
  EXPECT_EQ(reloaded.values_, spec.values_);
  EXPECT_EQ(reloaded.choices_, spec.choices_);
}

TEST_F(Classification, MinimalSpecGetsTaoDefaults) {
  Spec spec = load(kMinimal);
  EXPECT_EQ(spec.get_int("model_config.n_layers"), 18);
  EXPECT_TRUE(spec.get_bool("model_config.use_batch_norm"));
  EXPECT_FALSE(spec.get_bool("model_config.use_bias"));
  EXPECT_EQ(spec.get_int("model_config.width"), 64);
  EXPECT_EQ(spec.get_int("train_config.batch_size_per_gpu"), 64);
  EXPECT_EQ(spec.get_int("train_config.n_epochs"), 10);
  EXPECT_EQ(spec.get_int("train_config.random_seed"), 42);
  EXPECT_EQ(spec.get_string("train_config.pretrained_model_path"), "");
  EXPECT_EQ(spec.choice("train_config.optimizer"), "sgd");
  EXPECT_EQ(spec.get_float("train_config.optimizer.sgd.momentum"), 0.9);
  EXPECT_EQ(spec.get_string("train_config.reg_config.type"), "L2");
  EXPECT_EQ(spec.get_string("train_config.reg_config.scope"), "Conv2D,Dense");
  EXPECT_EQ(spec.get_float("train_config.reg_config.weight_decay"), 5e-4);
  EXPECT_EQ(spec.choice("train_config.lr_config"), "cosine");
  EXPECT_EQ(spec.get_float("train_config.lr_config.cosine.learning_rate"), 0.01);
  EXPECT_EQ(spec.get_float("train_config.lr_config.cosine.min_lr_ratio"), 0.01);
  EXPECT_EQ(spec.get_float_list("dataset_config.image_mean"), std::vector<double>{0.2860});
  EXPECT_EQ(spec.get_float_list("dataset_config.image_std"), std::vector<double>{0.3530});
  EXPECT_TRUE(spec.get_bool("dataset_config.augmentation.disable_horizontal_flip"));
  EXPECT_EQ(spec.get_int("dataset_config.augmentation.crop_padding"), 4);
  EXPECT_EQ(spec.get_int("eval_config.batch_size"), 256);
  EXPECT_EQ(spec.get_int("eval_config.top_k"), 5);
  EXPECT_FALSE(spec.has("dataset_config.val.type"));  // no validation set: none during training
}

TEST_F(Classification, SoftAnnealDefaults) {
  Spec spec = load(kMinimal, {"train_config.lr_config=soft_anneal"});
  EXPECT_EQ(spec.get_float_list("train_config.lr_config.soft_anneal.annealing_points"),
            (std::vector<double>{0.33, 0.67}));
  EXPECT_EQ(spec.get_float("train_config.lr_config.soft_anneal.annealing_divider"), 10.0);
  EXPECT_EQ(spec.get_float("train_config.lr_config.soft_anneal.soft_start"), 0.0);
}

TEST_F(Classification, RejectsBadModelConfig) {
  EXPECT_EQ(
      problems("model_config:\n  arch: resnet50\n  n_layers: 50\n  input_image_size: 2,28,28\n"
               "  freeze_blocks: [9]\n  width: 2\n  dropout: 1\n"
               "dataset_config:\n  train:\n    type: image_folder\n    root: images\n"),
      Lines({"spec.yaml:2:9: model_config.arch: 'resnet50' is not one of: lenet5, resnet, mobilenet_v2 (did you mean 'resnet'?)",
             "spec.yaml:3:13: model_config.n_layers: must be one of 10, 18, 34, got 50",
             "spec.yaml:4:21: model_config.input_image_size: channels (C) must be 1 or 3, got 2",
             "spec.yaml:5:19: model_config.freeze_blocks[0]: 9 is out of range (must be in [0, 8])",
             "spec.yaml:6:10: model_config.width: 2 is out of range (must be in [4, 1024])",
             "spec.yaml:7:12: model_config.dropout: 1 is out of range (must be in [0, 0.95])"}));
}

TEST_F(Classification, InputImageSizeFormat) {
  const std::string data = "dataset_config:\n  train:\n    type: image_folder\n    root: images\n";
  auto problem = [&](const std::string& size) {
    Lines lines = problems("model_config:\n  arch: lenet5\n  input_image_size: \"" + size + "\"\n" + data);
    return lines.size() == 1 ? lines[0].substr(lines[0].find(": model_config") + 2) : "unexpected";
  };
  EXPECT_EQ(problem("1,28"),
            "model_config.input_image_size: expected \"C,H,W\" with integers (e.g. \"1,28,28\"), "
            "got '1,28'");
  EXPECT_EQ(problem("1,x,28"),
            "model_config.input_image_size: expected \"C,H,W\" with integers (e.g. \"1,28,28\"), "
            "got '1,x,28'");
  EXPECT_EQ(problem("3,4,28"), "model_config.input_image_size: height (H) must be in [8, 4096], got 4");
  EXPECT_EQ(problem("3,28,5000"), "model_config.input_image_size: width (W) must be in [8, 4096], got 5000");
  EXPECT_EQ(load("model_config:\n  arch: lenet5\n  input_image_size: 3, 8, 4096\n" + data)
                .get_string("model_config.input_image_size"),
            "3, 8, 4096");
}

TEST_F(Classification, RejectsBadTrainAndDatasetConfig) {
  EXPECT_EQ(
      problems("model_config:\n  arch: lenet5\n  input_image_size: 1,28,28\n"
               "train_config:\n"
               "  batch_size_per_gpu: 0\n"
               "  pretrained_model_path: models/missing.kiln\n"
               "  optimizer: {sgd: {}, adam: {}}\n"
               "  lr_config:\n    cosine:\n      learning_rate: 0\n"
               "  reg_config: {type: L3}\n"
               "dataset_config:\n  train:\n    type: tfrecords\n"
               "  val:\n    root: images\n"
               "  image_std: [0.3, 0.3, 0.0]\n  image_mean: [0.1, 0.1, 0.1, 0.1]\n"),
      Lines({"spec.yaml:5:23: train_config.batch_size_per_gpu: 0 is out of range (must be in [1, 65536])",
             "spec.yaml:6:26: train_config.pretrained_model_path: path does not exist: " + dir_.path() +
                 "/models/missing.kiln",
             "spec.yaml:7:24: train_config.optimizer: give only one of sgd, adam (got 'sgd' and 'adam')",
             "spec.yaml:10:22: train_config.lr_config.cosine.learning_rate: 0 is out of range (must be in (0, 10])",
             "spec.yaml:11:22: train_config.reg_config.type: 'L3' is not one of: L1, L2, None (did you mean 'L1'?)",
             "spec.yaml:14:11: dataset_config.train.type: 'tfrecords' is not one of: idx, image_folder, shards",
             "spec.yaml:16:5: dataset_config.val.type: missing required key",
             "spec.yaml:17:25: dataset_config.image_std[2]: 0 is out of range (must be >= 1e-6)",
             "spec.yaml:18:15: dataset_config.image_mean: expected 1 to 3 values, got 4"}));
}

TEST_F(Classification, MissingRequiredKeysAndTaoNamesThatKilnDoesNotUse) {
  EXPECT_EQ(problems("model_config:\n  arch: lenet5\n"
                     "train_config:\n  optimizer:\n    sgd: {lr: 0.1}\n"),
            Lines({"spec.yaml:1:1: dataset_config: missing required key",
                   "spec.yaml:2:3: model_config.input_image_size: missing required key",
                   "spec.yaml:5:11: train_config.optimizer.sgd.lr: unknown key 'lr'"}));
  EXPECT_EQ(problems(""), Lines({"spec.yaml:1:1: model_config: missing required key",
                                 "spec.yaml:1:1: dataset_config: missing required key"}));
}

// The samples users copy must stay valid as the schema changes.
TEST_F(Classification, SampleSpecsValidate) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST (Debian dataset-fashion-mnist) is not installed";
  }
  const std::string samples = std::string(KILN_SOURCE_DIR) + "/specs/samples/";
  for (const char* name : {"classification_lenet5_fmnist.yaml", "classification_resnet_fmnist.yaml"}) {
    SCOPED_TRACE(name);
    Spec spec = load_spec(classification_schema(), samples + name);
    EXPECT_EQ(spec.get_string("dataset_config.val.type"), "idx");
  }
  Spec convert = load_spec(classification_convert_schema(), samples + "convert_fmnist_shards.yaml");
  EXPECT_EQ(convert.get_string("source.type"), "idx");
}

TEST_F(Classification, ConvertSchema) {
  Spec spec = load_spec_text(classification_convert_schema(), "source:\n  type: image_folder\n  root: images\n",
                             "convert.yaml", dir_.path());
  EXPECT_EQ(spec.get_string("source.root"), dir_.path() + "/images");
  EXPECT_EQ(spec.get_string("input_image_size"), "1,28,28");
  EXPECT_EQ(spec.get_int("num_shards"), 4);
  EXPECT_EQ(
      issues_of([&] {
        load_spec_text(classification_convert_schema(), "input_image_size: 1,28\nnum_shards: 0\n", "convert.yaml",
                       dir_.path());
      }),
      Lines({"convert.yaml:1:1: source: missing required key",
             "convert.yaml:1:19: input_image_size: expected \"C,H,W\" with integers (e.g. \"1,28,28\"), got '1,28'",
             "convert.yaml:2:13: num_shards: 0 is out of range (must be in [1, 4096])"}));
}

TEST_F(Classification, DescribeListsEveryGroup) {
  const std::string md = describe_schema(classification_schema());
  for (const char* heading : {"### `model_config`", "### `train_config`", "### `train_config.optimizer`",
                              "### `train_config.optimizer.adam`", "### `train_config.lr_config.soft_anneal`",
                              "### `dataset_config.train`", "### `dataset_config.val`", "### `eval_config`"}) {
    EXPECT_NE(md.find(std::string(heading) + "\n"), std::string::npos) << heading;
  }
  EXPECT_NE(md.find("| `arch` | enum | **required** | `lenet5`, `resnet`, `mobilenet_v2` | Network architecture. |"),
            std::string::npos);
  EXPECT_NE(md.find("| `image_std` | float list | `[0.353]` | 1 to 3 values; each >= 1e-6 |"), std::string::npos);
  EXPECT_NE(md.find("| `learning_rate` | float | `0.01` | in (0, 10] |"), std::string::npos);
  EXPECT_NE(md.find("| `val` | group | absent |  |"), std::string::npos);
}

}  // namespace
}  // namespace kiln::specs

namespace kiln::specs {
namespace {

TEST_F(Classification, TaoMeansOf0To255PixelsAreAnErrorThatConvertsThem) {
  EXPECT_EQ(problems(std::string(kMinimal) + "  image_mean: [103.939, 116.779, 123.68]\n  image_std: [0.5]\n"),
            (Lines{"spec.yaml:8:15: dataset_config.image_mean: kiln's image_mean is of pixels scaled to [0, 1]; "
                   "103.939 looks like TAO's 0-255 convention: divide by 255 (103.939 -> 0.4076)"}));
  EXPECT_EQ(problems(kMinimal, {"dataset_config.image_std=[58.393]"}).back(),
            "<command line>: dataset_config.image_std: kiln's image_std is of pixels scaled to [0, 1]; 58.393 looks "
            "like TAO's 0-255 convention: divide by 255 (58.393 -> 0.229)");
  EXPECT_NO_THROW(load(std::string(kMinimal) + "  image_mean: [0.485, 0.456, 0.406]\n  image_std: [0.229]\n"));
}

TEST_F(Classification, ATaoProtobufSpecIsNamedAsSuch) {
  const Lines lines = problems(
      "# TAO classification spec\nmodel_config {\n  arch: \"resnet\"\n  n_layers: 18\n}\ntrain_config {\n}\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("spec.yaml:2:1: this is a TAO spec in protobuf text format", 0), 0u) << lines[0];
  // Ordinary YAML errors keep the parser's message.
  const Lines yaml = problems("model_config:\n  arch: [resnet\n");
  ASSERT_EQ(yaml.size(), 1u);
  EXPECT_NE(yaml[0].find("YAML syntax error"), std::string::npos) << yaml[0];
}

TEST_F(Classification, ASubtaskRequiresOnlyThePathsItReads) {
  const std::string spec = std::string(kMinimal) + "  val:\n    type: image_folder\n    root: missing_val\n";
  EXPECT_FALSE(problems(spec).empty()) << "the full schema wants every path";
  const Spec relaxed = load_spec(without_path_checks(classification_schema()), dir_.write("spec.yaml", spec));
  EXPECT_NO_THROW(require_existing_paths(relaxed, {"dataset_config.train.root", "dataset_config.train.images"}));
  const Lines lines = issues_of([&] { require_existing_paths(relaxed, {"dataset_config.val.root"}); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], dir_.path() + "/spec.yaml:10:11: dataset_config.val.root: path does not exist: " + dir_.path() +
                          "/missing_val");
}

}  // namespace
}  // namespace kiln::specs
