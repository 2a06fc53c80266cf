#include "kiln/runtime/checkpoint_writer.h"

#include <filesystem>

#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/runtime/checkpoint.h"

namespace kiln::runtime {

CheckpointWriter::CheckpointWriter(ResultsLayout results, int64_t keep) : results_(std::move(results)), keep_(keep) {}

CheckpointWriter::~CheckpointWriter() {
  try {
    wait();
  } catch (const std::exception& e) {
    log::error(std::string("checkpoint: ") + e.what());
  }
}

void CheckpointWriter::join() {
  if (thread_.joinable()) thread_.join();
}

void CheckpointWriter::wait() {
  join();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

std::string CheckpointWriter::save(const std::string& name, CheckpointSnapshot snapshot) {
  wait();
  std::filesystem::create_directories(results_.checkpoints());
  const std::string path = results_.checkpoints() + "/" + name;
  thread_ = std::thread([this, name, path, snapshot = std::move(snapshot)]() mutable {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      write_model_file(path, snapshot.finish());
      atomic_write_string(results_.latest_pointer(), name + "\n");  // only once the checkpoint is durable
      for (const auto& old : remove_old_checkpoints(results_, keep_))
        log::debug("checkpoint: removed " + old + " (checkpoints_to_keep=" + std::to_string(keep_) + ")");
      last_write_ = std::chrono::steady_clock::now() - t0;
      log::debug(log::cat("checkpoint: ", name, " written in ", static_cast<int64_t>(1000 * last_write_.count()),
                          " ms in the background"));
    } catch (...) {
      error_ = std::current_exception();
    }
  });
  return path;
}

}  // namespace kiln::runtime
