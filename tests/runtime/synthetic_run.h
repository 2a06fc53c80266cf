// A small training task for the run skeleton's tests: LeNet5 on 64 synthetic images in 4 classes, one rank, in a
// results folder of its own; and readers of what a run leaves (status events, history lines, final weights).
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/common/signals.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/run.h"
#include "kiln/runtime/train_step.h"

namespace kiln::runtime::testing {

struct RunDir {
  std::filesystem::path path;
  explicit RunDir(const std::string& tag = "run")
      : path(std::filesystem::temp_directory_path() /
             ("kiln_run_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + tag)) {
    std::filesystem::remove_all(path);
  }
  ~RunDir() { std::filesystem::remove_all(path); }
};

// 64 synthetic 28×28 images in 4 classes; each step trains on the sampler's indices in order.
class SyntheticSteps final : public EpochSteps {
 public:
  SyntheticSteps(const at::Tensor& images, const at::Tensor& labels, std::vector<size_t> indices, int64_t batch,
                 TrainStep& step, std::function<void()> after_step = {})
      : images_(images),
        labels_(labels),
        indices_(std::move(indices)),
        batch_(batch),
        step_(step),
        after_step_(std::move(after_step)) {}
  bool next() override { return at_ + static_cast<size_t>(batch_) <= indices_.size(); }
  StepStats run(double lr) override {
    std::vector<int64_t> pick(indices_.begin() + static_cast<std::ptrdiff_t>(at_),
                              indices_.begin() + static_cast<std::ptrdiff_t>(at_) + batch_);
    at_ += static_cast<size_t>(batch_);
    const at::Tensor idx = at::tensor(pick, at::kLong);
    const StepResult r = step_.run(images_.index_select(0, idx), labels_.index_select(0, idx), lr);
    if (after_step_) after_step_();
    return {r.loss, batch_, r.correct};
  }

 private:
  at::Tensor images_, labels_;
  std::vector<size_t> indices_;
  int64_t batch_;
  TrainStep& step_;
  std::function<void()> after_step_;
  size_t at_ = 0;
};

class SyntheticTask final : public TrainingTask {
 public:
  int validations = 0;
  int64_t fail_in_epoch = -1;  // 0-based epoch whose first batch throws, as an interrupted run
  int64_t signal_after = -1;   // steps (of this process) after which a SIGTERM arrives; -1: none
  int64_t steps_run = 0;
  int64_t signal_in_validation = -1;  // the validation (1-based) during which a SIGTERM arrives; -1: none

  SyntheticTask() {
    at::Generator gen = at::detail::createCPUGenerator(7);
    images_ = at::randn({64, 1, 28, 28}, gen);
    labels_ = at::randint(0, 4, {64}, gen);
  }
  void open_data(kiln::networks::Architecture& arch) override { arch.num_classes = 4; }
  size_t train_size() const override { return 64; }
  std::string describe_data() const override { return "64 synthetic images"; }
  std::vector<std::string> class_names() const override { return {"a", "b", "c", "d"}; }
  bool has_validation() const override { return true; }
  void prepare(const RunContext& run) override { step_.emplace(run.net, run.optimizer, RegularizerConfig{}, 0.0); }
  std::unique_ptr<EpochSteps> epoch(int64_t epoch, const std::vector<size_t>& indices) override {
    if (epoch == fail_in_epoch) throw kiln::Error("stopped in epoch " + std::to_string(epoch + 1));
    return std::make_unique<SyntheticSteps>(images_, labels_, indices, 16, *step_, [this] {
      if (++steps_run == signal_after) kiln::raise_interrupt_for_test(SIGTERM);
    });
  }
  void validate(EpochRecord& rec) override {
    if (++validations == signal_in_validation) {
      kiln::raise_interrupt_for_test(SIGTERM);
      kiln::throw_if_interrupted();  // as an evaluation loop polls between its batches
    }
    rec.val_accuracy = 0.5, rec.val_loss = 1.0;
  }
  ReportFormat report_format() const override {
    return {{{"train_loss", &EpochRecord::train_loss}, {"val_accuracy", &EpochRecord::val_accuracy}},
            "accuracy",
            true,
            {{"acc", &EpochRecord::train_accuracy}, {"val_acc", &EpochRecord::val_accuracy, true}}};
  }
  nlohmann::json kpi(const EpochRecord& r) const override { return {{"train_loss", r.train_loss}}; }
  nlohmann::json graphical(const EpochRecord& r) const override { return {{"loss", r.train_loss}}; }
  nlohmann::json final_kpi(const std::vector<EpochRecord>& h) const override {
    return {{"epochs", static_cast<int64_t>(h.size())}};
  }

 private:
  at::Tensor images_, labels_;
  std::optional<TrainStep> step_;
};

inline RunSettings synthetic_settings(int64_t n_epochs, int64_t checkpoint_interval, int64_t validation_period) {
  RunSettings s;
  s.arch.arch = "lenet5";
  s.batch_size = 16, s.n_epochs = n_epochs, s.random_seed = 3;
  s.batch_size_key = "train_config.batch_size_per_gpu";
  s.checkpoints.every_epochs = checkpoint_interval;
  s.validation_period = validation_period;
  s.schedule.kind = LrSchedule::Kind::kStep;
  s.schedule.learning_rate = 0.05;
  s.optimizer.name = "sgd";
  s.spec_yaml = "model_config: {arch: lenet5}\n";
  return s;
}

// Trains the synthetic task, set up by `configure`, in `dir` on one rank; returns the task (to inspect what the
// skeleton asked of it).
inline std::unique_ptr<SyntheticTask> train_with(const std::filesystem::path& dir, const RunSettings& settings,
                                                 const std::function<void(SyntheticTask&)>& configure) {
  RunOptions opts;
  opts.results_dir = dir.string();
  opts.threads = 1;
  Distributed dist(kiln::cluster::RankInfo{});
  auto task = std::make_unique<SyntheticTask>();
  configure(*task);
  std::optional<StatusLog> status;
  Run(opts, settings, dist).train(*task, status);
  return task;
}

inline std::unique_ptr<SyntheticTask> train_in(const std::filesystem::path& dir, const RunSettings& settings,
                                               int64_t fail_in_epoch = -1, int64_t signal_after = -1) {
  return train_with(dir, settings, [&](SyntheticTask& t) {
    t.fail_in_epoch = fail_in_epoch;
    t.signal_after = signal_after;
  });
}

inline std::vector<std::string> lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

inline std::vector<std::string> statuses(const std::filesystem::path& status_json) {
  std::vector<std::string> out;
  for (const auto& l : lines(status_json)) out.push_back(nlohmann::json::parse(l).at("status"));
  return out;
}

inline at::Tensor weights_of(const std::filesystem::path& model) {
  LoadedModel m = load_model(model.string());
  std::vector<at::Tensor> flat;
  for (const auto& p : m.net->parameters()) flat.push_back(p.detach().flatten());
  return at::cat(flat);
}

}  // namespace kiln::runtime::testing
