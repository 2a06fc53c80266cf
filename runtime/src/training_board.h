// What a training run writes to TensorBoard (train_config / training_config .visualizer): rank 0's running loss and
// the learning rate every scalar_logging_frequency steps, each epoch's report columns (`epoch/<column>`, at the
// epoch's number) and, every infrequent_logging_frequency epochs, the task's sample images. Inert when the
// visualizer is off.
#pragma once
#include <optional>
#include <string>

#include "kiln/runtime/run.h"
#include "kiln/runtime/tensorboard.h"

namespace kiln::runtime {

class TrainingBoard {
 public:
  TrainingBoard(const VisualizerConfig& config, const std::string& results_dir);  // rank 0 only
  void after_step(int64_t global_step, double running_loss, double lr);
  void after_epoch(const EpochRecord& rec, const ReportFormat& format, TrainingTask& task);

 private:
  VisualizerConfig config_;
  std::optional<EventLog> log_;
};

}  // namespace kiln::runtime
