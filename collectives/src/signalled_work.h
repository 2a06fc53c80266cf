// A Work finished by whoever completes the collective (the last thread-rank to arrive, the MPI thread, an abort).
// Waiters block on a condition variable, so wait(timeout) and abort never depend on the backend making progress.
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "kiln/collectives/communicator.h"

namespace kiln::collectives::detail {

class SignalledWork final : public Work {
 public:
  explicit SignalledWork(std::string description) : description_(std::move(description)) {}

  // True once the Work is no longer pending (completed, failed or aborted), as c10d's isCompleted().
  bool is_completed() override { return status_.load(std::memory_order_acquire) != WorkStatus::kPending; }
  // kTimedOut is an answer, not a state: the Work stays pending and a later wait() may still complete it.
  WorkStatus wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  std::string error() const override;
  std::string describe() const override { return description_; }

  // The first finish wins, so a Work aborted while its MPI call is still running stays aborted.
  // Returns false when the Work had already finished.
  bool finish(WorkStatus status, const std::string& error = "");

 private:
  const std::string description_;
  std::atomic<WorkStatus> status_{WorkStatus::kPending};
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::string error_;
};

// A Work that is already over (e.g. submitted to an aborted communicator).
std::shared_ptr<SignalledWork> finished_work(std::string description, WorkStatus status, const std::string& error);

}  // namespace kiln::collectives::detail
