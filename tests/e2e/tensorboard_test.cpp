// TensorBoard through the CLI: `kiln classification train` with train_config.visualizer.enabled writes an event file
// in the results folder that an independent reader (tests/support/tfevents.py: TFRecord CRCs, a protobuf wire decode)
// reads back with the running loss, the learning rate, each epoch's metrics and the sample images.
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"

using namespace kiln::testing;

namespace {

TEST(TensorBoard, ClassificationTrainingWritesReadableEvents) {
  TempDir dir("tensorboard");
  const fs::path results = dir.path / "run";
  const RunResult r = run_kiln(
      "classification train -e " + sample_spec("classification_lenet5_fmnist.yaml") + " -r " + results.string() +
      " --num_threads 2 dataset_config.train.max_samples=640 dataset_config.val.max_samples=100"
      " train_config.n_epochs=2 train_config.batch_size_per_gpu=32 train_config.visualizer.enabled=true"
      " train_config.visualizer.scalar_logging_frequency=5 train_config.visualizer.infrequent_logging_frequency=2"
      " train_config.visualizer.num_images=2");
  ASSERT_EQ(r.code, 0) << r.output;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(results)) {
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) files.push_back(e.path());
  }
  ASSERT_EQ(files.size(), 1u) << "one event file in " << results;
  const RunResult read = run_shell("/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) + "/tests/support/tfevents.py " +
                                   files[0].string());
  ASSERT_EQ(read.code, 0) << read.output;

  std::map<std::string, std::set<int64_t>> steps;  // tag → the steps it was logged at
  std::istringstream lines(read.output);
  size_t images = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto event = nlohmann::json::parse(line);
    if (!event.contains("values")) continue;
    for (const auto& v : event["values"]) {
      steps[v["tag"]].insert(event["step"].get<int64_t>());
      if (v.contains("image")) {
        ++images;
        EXPECT_TRUE(v["image"]["png_signature_ok"].get<bool>());
        EXPECT_GE(v["image"]["height"].get<int>(), 28);
      } else {
        EXPECT_TRUE(std::isfinite(v["simple_value"].get<double>())) << line;
      }
    }
  }
  // 640 images / 32 = 20 steps an epoch, 40 in all: the running loss and LR every 5 steps.
  EXPECT_EQ(steps["loss"], (std::set<int64_t>{5, 10, 15, 20, 25, 30, 35, 40}));
  EXPECT_EQ(steps["learning_rate"].size(), 8u);
  for (const char* tag : {"epoch/train_loss", "epoch/train_accuracy", "epoch/val_loss", "epoch/val_accuracy",
                          "epoch/lr"}) {
    EXPECT_EQ(steps[tag], (std::set<int64_t>{1, 2})) << tag;
  }
  size_t sample_tags = 0;
  for (const auto& [tag, at] : steps) {
    if (tag.rfind("samples/", 0) != 0) continue;
    ++sample_tags;
    EXPECT_EQ(at, std::set<int64_t>{2}) << tag << ": images every 2 epochs";
  }
  EXPECT_EQ(sample_tags, 2u) << "samples/0 <label> and samples/1 <label>";
  EXPECT_EQ(images, 2u);
}

}  // namespace
