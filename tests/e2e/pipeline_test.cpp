// End to end on a 2,000-image slice of Fashion-MNIST: train one epoch, evaluate, interrupt a longer run and resume
// it, and check the resumed run ends with exactly the weights of an uninterrupted one.
#include <ATen/ATen.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/e2e_util.h"
#include "kiln/runtime/model_file.h"

using namespace kiln::testing;

namespace {
const std::string kSlice =
    " dataset_config.train.max_samples=2000 dataset_config.val.max_samples=500 train_config.checkpoint_interval=1";

std::vector<nlohmann::json> status_events(const fs::path& results) {
  std::vector<nlohmann::json> out;
  std::istringstream in(slurp(results / "status.json"));
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}
}  // namespace

TEST(Pipeline, TrainOneEpochThenEvaluate) {
  TempDir dir("train_eval");
  const fs::path results = dir.path / "lenet";
  const auto train = run_kiln("classification train -e " + sample_spec("classification_lenet5_fmnist.yaml") + " -r " +
                              results.string() + " train_config.n_epochs=1" + kSlice);
  ASSERT_EQ(train.code, 0) << train.output;
  EXPECT_NE(train.output.find("Execution status: PASS"), std::string::npos);
  for (const char* f : {"model.kiln", "checkpoints/latest", "checkpoints/lenet5_epoch_001.kiln", "training_curves.png",
                        "training_history.csv", "status.json"})
    EXPECT_TRUE(fs::exists(results / f)) << f;
  EXPECT_EQ(slurp(results / "training_curves.png").substr(1, 3), "PNG");

  const auto events = status_events(results);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front()["status"], "STARTED");
  EXPECT_EQ(events[1]["status"], "RUNNING");
  EXPECT_EQ(events[1]["epoch"], 1);
  // TAO's names (status_schema.h), which TAO's dashboards and AutoML look for.
  EXPECT_TRUE(events[1]["kpi"].contains("validation_accuracy"));
  EXPECT_TRUE(events[1]["kpi"].contains("training_accuracy"));
  for (const char* k : {"loss", "training_accuracy", "validation_loss", "validation_accuracy", "learning_rate"})
    EXPECT_TRUE(events[1]["graphical"].contains(k)) << k << ": " << events[1].dump();
  EXPECT_EQ(events[1]["graphical"].size(), 5u) << events[1].dump();
  EXPECT_TRUE(events.back()["kpi"].contains("validation_loss")) << events.back().dump();
  // TAO's training.csv beside kiln's history.
  EXPECT_EQ(slurp(results / "training.csv").rfind("epoch,acc,loss,lr,val_acc,val_loss\r\n1,", 0), 0u);
  EXPECT_EQ(events.back()["status"], "SUCCESS");

  const auto eval = run_kiln("classification evaluate -e " + sample_spec("classification_lenet5_fmnist.yaml") + " -m " +
                             (results / "model.kiln").string() + " -r " + results.string() +
                             " dataset_config.val.max_samples=1000");
  ASSERT_EQ(eval.code, 0) << eval.output;
  EXPECT_NE(eval.output.find("Confusion matrix"), std::string::npos) << eval.output;
  EXPECT_NE(eval.output.find("ankle_boot"), std::string::npos) << eval.output;
  const auto metrics = nlohmann::json::parse(slurp(results / "evaluation" / "metrics.json"));
  EXPECT_EQ(metrics["num_samples"], 1000);
  EXPECT_GT(metrics["top1_accuracy"].get<double>(), 0.5);  // chance is 0.1; one epoch on 2,000 images gets ~0.7
  EXPECT_GE(metrics["top5_accuracy"].get<double>(), metrics["top1_accuracy"].get<double>());
  EXPECT_EQ(metrics["per_class_accuracy"].size(), 10u);
  EXPECT_TRUE(metrics["per_class_accuracy"].contains("ankle_boot"));
  int64_t total = 0;
  for (const auto& row : metrics["confusion_matrix"])
    for (const auto& v : row) total += v.get<int64_t>();
  EXPECT_EQ(total, 1000);
  EXPECT_TRUE(fs::exists(results / "evaluation" / "confusion_matrix.csv"));
  EXPECT_EQ(status_events(results).back()["status"], "SUCCESS");
  EXPECT_TRUE(status_events(results).back()["kpi"].contains("top_k_accuracy"));
}

TEST(Pipeline, InterruptedRunResumesToTheSameWeights) {
  TempDir dir("resume");
  const std::string common = "classification train -e " + sample_spec("classification_lenet5_fmnist.yaml") +
                             " --num_threads 1 train_config.n_epochs=6" + kSlice;

  // Reference: 6 epochs without interruption.
  const auto straight = run_kiln(common + " -r " + (dir.path / "straight").string());
  ASSERT_EQ(straight.code, 0) << straight.output;

  // Interrupted: SIGINT as soon as the first checkpoint exists, then the same command again.
  const fs::path results = dir.path / "resumed";
  const pid_t pid = start_kiln(common + " -r " + results.string(), dir.path / "interrupted.log");
  ASSERT_GT(pid, 0);
  wait_for_file(results / "checkpoints" / "latest");
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 130) << "the run finished before it could be interrupted";
  EXPECT_EQ(status_events(results).back()["status"], "FAILURE");
  EXPECT_FALSE(fs::exists(results / "model.kiln"));

  const auto resumed = run_kiln(common + " -r " + results.string());
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Resuming from"), std::string::npos) << resumed.output;

  const auto a = kiln::runtime::read_model_file((dir.path / "straight" / "model.kiln").string());
  const auto b = kiln::runtime::read_model_file((results / "model.kiln").string());
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) EXPECT_TRUE(at::equal(t, b.tensors.at(name))) << name;
  // The curves cover all 6 epochs once, whatever epoch the interruption hit.
  EXPECT_EQ(b.meta["history"].size(), 6u);
}
