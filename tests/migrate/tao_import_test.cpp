// kiln spec import: TAO's spec texts (tests/migrate/data, written from TAO's documented examples) become kiln specs
// that kiln's own validation accepts, with every key of the input accounted for; bad input is refused with
// file:line:column and nothing else.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <fstream>

#include "kiln/migrate/tao_import.h"
#include "kiln/specs/classification.h"
#include "kiln/specs/detectnet_v2.h"
#include "support/expect_error.h"
#include "support/generated_docs.h"

namespace kiln::migrate {
namespace {

namespace fs = std::filesystem;

std::string data(const std::string& name) { return std::string(KILN_SOURCE_DIR) + "/tests/migrate/data/" + name; }

// Writes `text` to a file of the test's own and returns its path.
std::string spec_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::path(KILN_BINARY_DIR) / "tests" / "migrate_work";
  fs::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path) << text;
  return path;
}

const KeyReport* key(const Imported& imported, const std::string& tao_key) {
  for (const auto& k : imported.keys) {
    if (k.tao_key == tao_key) return &k;
  }
  return nullptr;
}

// Only "path does not exist" problems: the spec is valid once its data is there.
void expect_valid_but_for_paths(const Imported& imported) {
  for (const auto& issue : imported.validation) {
    EXPECT_NE(issue.message.find("does not exist"), std::string::npos) << issue.str() << "\n" << imported.yaml;
  }
}

size_t count_lines_with(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

TEST(TaoImport, ClassificationTrainSpecBecomesAValidKilnSpec) {
  const Imported im = import_tao_spec(data("classification_train.txt"), Network::kAuto, Kind::kAuto, "/");
  EXPECT_EQ(im.network, Network::kClassification);
  EXPECT_EQ(im.kind, Kind::kTrain);
  expect_valid_but_for_paths(im);
  // TAO's folder of class folders becomes an image_folder source; caffe mode's 0-255 BGR means become RGB means of
  // [0, 1] pixels with std 1/255 (the same arithmetic).
  EXPECT_NE(im.yaml.find("  train:\n    type: \"image_folder\"\n    root: \"/workspace/tao-experiments/data/split/train\""),
            std::string::npos) << im.yaml;
  EXPECT_NE(im.yaml.find("image_mean: [0.48502, 0.457957, 0.407604]"), std::string::npos) << im.yaml;
  EXPECT_NE(im.yaml.find("image_std: [0.00392157, 0.00392157, 0.00392157]"), std::string::npos) << im.yaml;
  ASSERT_NE(key(im, "train_config.pretrained_model_path"), nullptr);
  EXPECT_EQ(key(im, "train_config.pretrained_model_path")->outcome, Outcome::kUnsupported);  // an .hdf5
  EXPECT_EQ(key(im, "model_config.all_projections")->where.line, 9);
  EXPECT_EQ(key(im, "train_config.image_mean[r]")->outcome, Outcome::kChanged);
  // Every key of the file is in the report once, and every unsupported one is named in the YAML's header.
  for (const auto& k : im.keys) {
    if (k.outcome == Outcome::kUnsupported) {
      EXPECT_NE(im.yaml.find("#   " + k.tao_key + " ("), std::string::npos);
    }
  }
}

TEST(TaoImport, RetrainAndEvalSpecsAreClassificationExperiments) {
  for (const char* name : {"classification_retrain.txt", "classification_eval.txt"}) {
    const Imported im = import_tao_spec(data(name), Network::kAuto, Kind::kAuto, "/");
    EXPECT_EQ(im.network, Network::kClassification) << name;
    EXPECT_EQ(im.schema, "classification") << name;
    ASSERT_NE(key(im, "eval_config.model_path"), nullptr) << name;
    EXPECT_EQ(key(im, "eval_config.model_path")->kiln_key, "") << "a flag (-m), not a key";
  }
}

TEST(TaoImport, DetectNetV2TrainSpecBecomesAValidKilnSpec) {
  const Imported im =
      import_tao_spec(data("detectnet_v2_train_resnet18_kitti.txt"), Network::kAuto, Kind::kAuto, "/");
  EXPECT_EQ(im.network, Network::kDetectNetV2);
  EXPECT_EQ(im.kind, Kind::kTrain);
  expect_valid_but_for_paths(im);
  EXPECT_NE(im.yaml.find("- shards: \"/workspace/tao-experiments/data/tfrecords/kitti_trainval\""), std::string::npos);
  EXPECT_NE(im.yaml.find("    person_sitting: \"pedestrian\""), std::string::npos) << "a map of strings stays a map";
  EXPECT_NE(im.yaml.find("    - key: \"car\"\n      value:\n        clustering_config:\n"), std::string::npos)
      << "a map of messages becomes a list of {key, value}";
  EXPECT_EQ(count_lines_with(im.yaml, "coverage_foreground_weight: 0.05"), 3u);
  EXPECT_EQ(key(im, "model_config.pretrained_model_file")->outcome, Outcome::kUnsupported);
  EXPECT_EQ(key(im, "training_config.visualizer.enabled")->kiln_key, "training_config.visualizer.enabled");
  EXPECT_EQ(key(im, "training_config.visualizer.wandb_config.project")->outcome, Outcome::kUnsupported);
  EXPECT_EQ(key(im, "dataset_config.data_sources[0].tfrecords_path")->outcome, Outcome::kChanged);
}

TEST(TaoImport, ConvertAndInferenceSpecs) {
  const Imported convert =
      import_tao_spec(data("detectnet_v2_tfrecords_kitti_trainval.txt"), Network::kAuto, Kind::kAuto, "/");
  EXPECT_EQ(convert.kind, Kind::kConvert);
  EXPECT_EQ(convert.schema, "detectnet_v2_convert");
  expect_valid_but_for_paths(convert);
  const Imported inference =
      import_tao_spec(data("detectnet_v2_inference_kitti_tlt.txt"), Network::kAuto, Kind::kAuto, "/");
  EXPECT_EQ(inference.kind, Kind::kInference);
  expect_valid_but_for_paths(inference);
  EXPECT_NE(inference.yaml.find("bbox_handler_config:"), std::string::npos);
}

// TAO's grammar as TAO reads it: comments, `key { }` blocks, `True`, scientific floats, commas, repeated keys,
// enums, map entries.
// A value kiln cannot take is reported where it stands, and kiln's validation of the result says what remains to fix.
TEST(TaoImport, ValuesKilnCannotTakeAreReported) {
  const Imported im = import_tao_spec(data("detectnet_v2_convert_more.txt"), Network::kAuto, Kind::kAuto, "/");
  const KeyReport* mode = key(im, "kitti_config.partition_mode");
  ASSERT_NE(mode, nullptr);
  EXPECT_EQ(mode->outcome, Outcome::kUnsupported);
  EXPECT_NE(mode->note.find("sequence"), std::string::npos);
  bool partitions = false;
  for (const auto& issue : im.validation) partitions |= issue.key_path == "kitti_config.num_partitions";
  EXPECT_TRUE(partitions) << "kiln's random partition has at most 2 folds; the TAO spec asks for 4";
  const Imported rms = import_tao_spec(data("classification_rmsprop.txt"), Network::kAuto, Kind::kAuto, "/");
  EXPECT_NE(rms.yaml.find("image_mean: [0.485, 0.456, 0.406]"), std::string::npos) << "torch mode: ImageNet's mean";
  EXPECT_NE(rms.yaml.find("image_std: [0.229, 0.224, 0.225]"), std::string::npos);
  EXPECT_EQ(key(rms, "train_config.optimizer.rmsprop.lr")->outcome, Outcome::kUnsupported);
}

TEST(TaoImport, TaoGrammar) {
  const std::string file = spec_file("grammar.txt", R"(# a comment
model_config { arch: "resnet", n_layers: 10  # trailing comment
  use_batch_norm: True input_image_size: '1,28,28'
  freeze_blocks: 0 freeze_blocks: 1 }
train_config { train_dataset_path: "/d/train"; batch_size_per_gpu: 32
  lr_config { cosine { learning_rate: 1e-1 min_lr_ratio: 5.0E-3 } }
  image_mean { key: "l" value: 117.3786 } }
)");
  const Imported im = import_tao_spec(file, Network::kAuto, Kind::kAuto, "/");
  expect_valid_but_for_paths(im);
  EXPECT_NE(im.yaml.find("n_layers: 10"), std::string::npos) << im.yaml;
  EXPECT_NE(im.yaml.find("use_batch_norm: true"), std::string::npos);
  EXPECT_NE(im.yaml.find("freeze_blocks: [0, 1]"), std::string::npos);
  EXPECT_NE(im.yaml.find("learning_rate: 0.1"), std::string::npos);
  EXPECT_NE(im.yaml.find("min_lr_ratio: 0.005"), std::string::npos);
  EXPECT_NE(im.yaml.find("image_mean: [0.460308]"), std::string::npos) << "a grey model's caffe mean 117.3786/255";
  EXPECT_EQ(key(im, "model_config.n_layers")->where.str(), file + ":2:32");
  EXPECT_EQ(std::count(im.defaults.begin(), im.defaults.end(), "dataset_config.augmentation.disable_horizontal_flip"), 1);
}

TEST(TaoImport, BadInputIsOneErrorPerProblemWithFileLineColumn) {
  using test_support::error_of;
  // Keys TAO's spec does not have: every one, each with its place and a suggestion.
  const std::string typos = spec_file("typos.txt", "model_config {\n  arch: \"resnet\"\n  n_layyers: 18\n}\n"
                                                   "train_config {\n  optimzer { sgd { momentum: 0.9 } }\n}\n");
  const std::string e1 = error_of<specs::SpecError>([&] { import_tao_spec(typos, Network::kAuto, Kind::kAuto, "/"); });
  EXPECT_NE(e1.find("2 problem"), std::string::npos) << e1;
  EXPECT_NE(e1.find(typos + ":3:3: model_config.n_layyers: unknown key 'n_layyers' in model_config (did you mean "
                            "'n_layers'?)"), std::string::npos) << e1;
  EXPECT_NE(e1.find(typos + ":6:3: train_config.optimzer: unknown key 'optimzer' in train_config (did you mean "
                            "'optimizer'?)"), std::string::npos) << e1;
  // A malformed value.
  const std::string value = spec_file("value.txt", "model_config {\n  n_layers: eighteen\n}\n");
  const std::string e2 = error_of<specs::SpecError>([&] { import_tao_spec(value, Network::kAuto, Kind::kAuto, "/"); });
  EXPECT_NE(e2.find(value + ":2:13:"), std::string::npos) << e2;
  // Not protobuf text format at all.
  const std::string binary = spec_file("binary.txt", "model_config {\n  arch: \"resnet\n}\n");
  const std::string e3 = error_of<specs::SpecError>([&] { import_tao_spec(binary, Network::kAuto, Kind::kAuto, "/"); });
  EXPECT_NE(e3.find(binary + ":2:"), std::string::npos) << e3;
  // A top-level message no TAO spec has.
  const std::string unknown = spec_file("unknown.txt", "# x\nyolo_config {\n  arch: \"x\"\n}\n");
  const std::string e4 = error_of<specs::SpecError>([&] { import_tao_spec(unknown, Network::kAuto, Kind::kAuto, "/"); });
  EXPECT_NE(e4.find(unknown + ":2:1: yolo_config: not a top-level key of any TAO spec kiln imports"), std::string::npos)
      << e4;
  // A network/kind pair that does not exist, and an empty file.
  EXPECT_NE(error_of<UsageError>([&] {
              import_tao_spec(typos, Network::kClassification, Kind::kConvert, "/");
            }).find("no convert spec for classification"),
            std::string::npos);
  const std::string empty = spec_file("empty.txt", "# nothing\n");
  EXPECT_NE(error_of<specs::SpecError>([&] { import_tao_spec(empty, Network::kAuto, Kind::kAuto, "/"); })
                .find("no keys: not a TAO spec"),
            std::string::npos);
}

// Every rule of the mapping decides at least one key of the test fixtures, so each row of the guide's tables is
// exercised by an import.
TEST(TaoImport, EveryRuleIsExercisedByAFixture) {
  std::set<std::string> hit;
  for (const char* name : {"classification_train.txt", "classification_retrain.txt", "classification_eval.txt",
                           "classification_more.txt", "classification_rmsprop.txt", "detectnet_v2_train_resnet18_kitti.txt",
                           "detectnet_v2_retrain_resnet18_kitti.txt", "detectnet_v2_inference_kitti_tlt.txt",
                           "detectnet_v2_tfrecords_kitti_trainval.txt", "detectnet_v2_more.txt",
                           "detectnet_v2_inference_more.txt", "detectnet_v2_convert_more.txt",
                           "detectnet_v2_coco_convert.txt"}) {
    const Imported im = import_tao_spec(data(name), Network::kAuto, Kind::kAuto, "/");
    for (const auto& k : im.keys) {
      if (!k.rule.empty()) hit.insert(std::string(name_of(im.network)) + " " + name_of(im.kind) + " " + k.rule);
    }
  }
  for (const auto& r : mapping_rules()) {
    const std::string id = std::string(name_of(r.network)) + " " + name_of(r.kind) + " " + r.tao;
    EXPECT_EQ(hit.count(id), 1u) << "no fixture key is decided by the rule " << id;
  }
}

TEST(TaoImport, MigrationGuideTablesAreCurrent) {
  const std::string reference = mapping_reference();
  // Every key of every TAO message kiln imports has a row.
  EXPECT_NE(reference.find("| `train_config.visualizer.wandb_config.mode` | unsupported |"), std::string::npos);
  EXPECT_NE(reference.find("| `dataset_config.data_sources[].tfrecords_path` | changed |"), std::string::npos);
  test_support::check_generated_region("docs/migrating_from_tao.md", "tao-mapping", reference);
}

}  // namespace
}  // namespace kiln::migrate
