#include "training_board.h"

#include "kiln/common/log.h"

namespace kiln::runtime {

TrainingBoard::TrainingBoard(const VisualizerConfig& config, const std::string& results_dir) : config_(config) {
  if (!config.enabled) return;
  log_.emplace(results_dir);
  log::info("TensorBoard: " + log_->path() + " (tensorboard --logdir " + results_dir + ")");
}

void TrainingBoard::after_step(int64_t global_step, double running_loss, double lr) {
  if (!log_ || global_step % config_.scalar_every != 0) return;
  log_->scalar("loss", running_loss, global_step);
  log_->scalar("learning_rate", lr, global_step);
  log_->flush();
}

void TrainingBoard::after_epoch(const EpochRecord& rec, const ReportFormat& format, TrainingTask& task) {
  if (!log_) return;
  for (const auto& column : format.history) {
    const double value = rec.*column.field;
    if (value >= 0) log_->scalar(std::string("epoch/") + column.name, value, rec.epoch);  // -1: not validated
  }
  if (config_.num_images > 0 && rec.epoch % config_.images_every == 0) {
    const auto samples = task.sample_images(config_.num_images);
    for (size_t i = 0; i < samples.size(); ++i) {
      log_->image("samples/" + std::to_string(i) + " " + samples[i].name,
                  annotate_image(samples[i].image, samples[i].caption), rec.epoch);
    }
  }
  log_->flush();
}

}  // namespace kiln::runtime
