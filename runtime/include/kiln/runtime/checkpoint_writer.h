// Checkpoints written in the background, so training does not wait for the disk. save() takes a CheckpointSnapshot
// (checkpoint.h: the weights cloned and the optimizer's state handed over, on the caller's thread: that copy is the
// whole stall); one writer thread encodes the optimizer state, writes the file durably, moves `latest` to it, and removes
// the oldest files beyond `keep`. One write at a time: save() first waits for the previous one. A process killed
// during a write leaves `latest` at the previous checkpoint and a temp file that the next run removes. An error of a
// background write is rethrown by the next save() or wait().
#pragma once
#include <chrono>
#include <exception>
#include <string>
#include <thread>

#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/model_file.h"
#include "kiln/runtime/results_layout.h"

namespace kiln::runtime {

class CheckpointWriter {
 public:
  CheckpointWriter(ResultsLayout results, int64_t keep);
  ~CheckpointWriter();  // waits for the write in flight; its error, if any, is logged
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Starts writing the snapshot as checkpoints/<name>; returns its path.
  std::string save(const std::string& name, CheckpointSnapshot snapshot);
  // Waits until the last checkpoint is durable and `latest` names it.
  void wait();

  // How long the last completed write took in the background.
  std::chrono::duration<double> last_write_time() const { return last_write_; }

 private:
  void join();

  ResultsLayout results_;
  int64_t keep_;
  std::thread thread_;
  std::exception_ptr error_;
  std::chrono::duration<double> last_write_{0};
};

}  // namespace kiln::runtime
