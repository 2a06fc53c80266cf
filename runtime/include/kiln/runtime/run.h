// The run skeleton: what every training run shares, written once. A task (classification, DetectNet_v2) plugs in
// what differs — its data, its step, its validation metrics and how they are reported — and `Run` does the rest:
//   1. the rank's set-up: results folder (results_layout.h), log level, threads, determinism, status.json (rank 0);
//   2. the sampler, steps per epoch, LR scaling by ranks;
//   3. the start: resume from checkpoints/latest or load pretrained weights (run_start.h), the gradient reducer;
//   4. the loop: fail-fast checks, the LR of every global step, progress bars; after every step the ranks agree on
//      a stop (SIGINT/SIGTERM/SIGUSR1 or the launcher's STOP) and on timed checkpoints, and mid-epoch checkpoints
//      are written (every N steps or minutes; a stop writes one and exits 128 + signal);
//   5. per epoch: metrics summed over ranks, batch-norm statistics averaged, validation when due, status events with
//      ETA, training_history.csv and training_curves.png, checkpoints on their cadence (rank 0);
//   6. the final model and the SUCCESS event, or a FAILURE event and ABORT for the other ranks.
#pragma once
#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/collectives/reducer.h"
#include "kiln/common/error.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/annotate.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/mixed_precision.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"
#include "kiln/runtime/schedule.h"
#include "kiln/runtime/tasks.h"

namespace kiln::runtime {

class Distributed;

// The settings every training run has, taken from the task's spec.
struct RunSettings {
  networks::Architecture arch;  // completed by the task's data (e.g. num_classes)
  std::vector<int64_t> freeze_blocks;
  std::string pretrained_model_path;  // -m overrides it
  int64_t batch_size = 1, n_epochs = 1, random_seed = 42;
  std::string batch_size_key;  // the spec key, for messages
  CheckpointPolicy checkpoints;
  VisualizerConfig visualizer;
  AmpConfig amp;
  std::string memory_format = "auto";  // auto | channels_last | contiguous (run_start.h: uses_channels_last)
  int64_t validation_period = 1, first_validation_epoch = 1;
  std::string n_epochs_key = "n_epochs", first_validation_epoch_key = "first_validation_epoch";  // for messages
  LrSchedule schedule;  // before any linear scaling by ranks
  OptimizerConfig optimizer;
  DataParallelConfig data_parallel;
  std::string spec_yaml;  // the resolved spec, stored in checkpoints and the model
};

// The settings every task's config spells alike (arch, freeze_blocks, pretrained_model_path, batch_size, n_epochs,
// random_seed, checkpoints, validation_period, schedule, optimizer, data_parallel).
template <class Config>
RunSettings common_settings(const Config& cfg, std::string batch_size_key, std::string spec_yaml) {
  RunSettings s;
  s.arch = cfg.arch;
  s.freeze_blocks = cfg.freeze_blocks;
  s.pretrained_model_path = cfg.pretrained_model_path;
  s.batch_size = cfg.batch_size, s.n_epochs = cfg.n_epochs, s.random_seed = cfg.random_seed;
  s.batch_size_key = std::move(batch_size_key);
  s.checkpoints = cfg.checkpoints;
  s.visualizer = cfg.visualizer;
  s.amp = cfg.amp;
  s.memory_format = cfg.memory_format;
  s.validation_period = cfg.validation_period;
  s.schedule = cfg.schedule;
  s.optimizer = cfg.optimizer;
  s.data_parallel = cfg.data_parallel;
  s.spec_yaml = std::move(spec_yaml);
  return s;
}

// The schedule a run of `world_size` ranks follows: with linear LR scaling every learning rate of the schedule (the
// base and the floor of DetectNet_v2's soft-start annealing) is multiplied by the number of ranks.
LrSchedule scaled_schedule(LrSchedule schedule, const DataParallelConfig& dp, int world_size);

// When a run writes a checkpoint (CheckpointPolicy): every `every_epochs` epochs and after the last; every
// `every_steps` global steps; `every_minutes` after the last one (rank 0's clock; the ranks agree through the step
// flags).
class CheckpointCadence {
 public:
  explicit CheckpointCadence(const CheckpointPolicy& policy);
  bool due(int64_t epochs_done, int64_t n_epochs) const;
  bool step_due(int64_t global_step) const;
  bool time_due(double seconds_since_last) const;

 private:
  CheckpointPolicy policy_;
};

// Thrown on every rank once the ranks agreed to stop after a step (a signal, or the launcher's STOP) and rank 0's
// checkpoint of that step is durable: the run exits 128 + the signal without aborting the others, and the same
// command resumes it bit for bit (same world size, deterministic mode).
class StoppedBySignal : public Interrupted {
 public:
  using Interrupted::Interrupted;
};

// Validation runs every `period` epochs from `first` on, and after the last epoch; period 0 never.
bool validation_due(int64_t epochs_done, int64_t n_epochs, int64_t period, int64_t first);

// What a task sees of the run once the model exists.
struct RunContext {
  Distributed& dist;
  const ResultsLayout& results;
  c10::Device device;
  networks::Network& net;
  torch::optim::Optimizer& optimizer;
  collectives::GradientReducer* reducer;  // nullptr on one rank
  MixedPrecision* amp;                    // the run's mixed precision (off unless train_config.amp / --use_amp)
};

// One batch's contribution to the epoch's metrics.
struct StepStats {
  double loss = 0;      // mean loss of the batch
  int64_t images = 0;   // batch size
  int64_t correct = 0;  // top-1 hits (tasks without training accuracy leave 0)
};

// The batches of one epoch of this rank's share. next() fetches the next batch (false: the epoch is over); run()
// trains on it at `lr`.
class EpochSteps {
 public:
  virtual ~EpochSteps() = default;
  virtual bool next() = 0;
  virtual StepStats run(double lr) = 0;
};

// How the task's epochs are reported: the columns of training_history.csv after `epoch` (each an EpochRecord
// field), the name of the curves' metric panel, whether there is a training accuracy, and the columns of TAO's
// training.csv (Keras' CSVLogger names in its sorted order; `validation` columns only when the task validates;
// none: TAO writes no training.csv for the task, as for DetectNet_v2).
struct HistoryColumn {
  const char* name;
  double EpochRecord::*field;
  bool validation = false;
};
struct ReportFormat {
  std::vector<HistoryColumn> history;
  std::string metric = "accuracy";
  bool train_accuracy = true;
  std::vector<HistoryColumn> training_csv{};
};

// A picture for TensorBoard: a validation image with what the model made of it.
struct SampleImage {
  std::string name;     // what the image is (its label), part of the TensorBoard tag
  std::string caption;  // what the model made of it, drawn above the image
  RgbImage image;
};

// What differs between tasks.
class TrainingTask {
 public:
  virtual ~TrainingTask() = default;

  // Data, opened once the rank has joined the world; may complete the architecture (e.g. the number of classes).
  virtual void open_data(networks::Architecture& arch) = 0;
  virtual size_t train_size() const = 0;                   // samples the sampler draws from
  virtual std::string describe_data() const = 0;           // for the "Data:" log line
  virtual std::vector<std::string> class_names() const = 0;  // stored in checkpoints and the model
  virtual bool has_validation() const = 0;

  // The model is built (resumed or fresh) and on its device.
  virtual void restore(const nlohmann::json& checkpoint_meta) { (void)checkpoint_meta; }
  virtual nlohmann::json checkpoint_extra() const { return nlohmann::json::object(); }  // merged into the meta
  virtual std::string describe_model() const { return ""; }  // appended to the "Model:" log line
  virtual void prepare(const RunContext& run) = 0;

  // Each epoch.
  virtual std::unique_ptr<EpochSteps> epoch(int64_t epoch, const std::vector<size_t>& indices) = 0;
  virtual std::vector<double> epoch_sums() const { return {}; }  // extra per-epoch sums, reduced with the metrics
  // Resuming inside an epoch: this rank's epoch_sums() when the checkpoint was taken (before the first step).
  virtual void restore_epoch_sums(const std::vector<double>& sums) { (void)sums; }
  virtual void end_epoch(const std::vector<double>& summed) { (void)summed; }
  virtual void validate(EpochRecord& record) = 0;  // every rank; fills val_loss / val_accuracy
  virtual void write_validation(const ResultsLayout& results) { (void)results; }  // rank 0, after validate

  // Reports.
  virtual ReportFormat report_format() const = 0;
  virtual nlohmann::json kpi(const EpochRecord& record) const = 0;
  virtual nlohmann::json graphical(const EpochRecord& record) const = 0;
  virtual nlohmann::json categorical(const EpochRecord& record) const {  // e.g. AP per class; empty: none
    (void)record;
    return nlohmann::json::object();
  }
  virtual nlohmann::json final_kpi(const std::vector<EpochRecord>& history) const = 0;
  // Up to `count` validation images with the model's predictions drawn on them, for TensorBoard (rank 0, between
  // epochs; no collectives). Empty: the task has none to show.
  virtual std::vector<SampleImage> sample_images(int64_t count) {
    (void)count;
    return {};
  }
};

class Run {
 public:
  Run(const RunOptions& options, RunSettings settings, Distributed& dist);
  // Trains `task` to settings.n_epochs (resuming where checkpoints/latest left off). `status` is where rank 0's
  // status log lives, so the caller can record a failure in it.
  void train(TrainingTask& task, std::optional<StatusLog>& status);

 private:
  struct Loop;
  const RunOptions& options_;
  RunSettings settings_;
  Distributed& dist_;
  ResultsLayout results_;
};

// The entry of every `train` subtask: `load` reads and validates the spec (before this rank joins the world, so a bad
// spec is exit 2 on every rank alike) and returns the run's settings and the task; then the rank joins the world and
// trains. When anything fails, the failure is recorded in status.json and every other rank is told to stop.
struct LoadedTask {
  RunSettings settings;
  std::unique_ptr<TrainingTask> task;
};
void run_training(const RunOptions& options, const std::function<LoadedTask()>& load);

// training_history.csv: `epoch`, then the format's columns, one row per epoch; a value not measured that epoch
// (negative: e.g. no validation) is an empty cell.
std::string history_csv(const std::vector<EpochRecord>& history, const ReportFormat& format);

// TAO's training.csv as Keras' CSVLogger (TAO's OneIndexedCSVLogger) writes it: `epoch` (from 1), then `columns`
// (validation ones only when `validated`), values as Python prints them (the learning rate as a float32), "NA" for a
// validation value an epoch did not measure, lines ending in "\r\n" (Python's csv "excel" dialect).
std::string training_csv(const std::vector<EpochRecord>& history, const std::vector<HistoryColumn>& columns,
                         bool validated);

}  // namespace kiln::runtime
