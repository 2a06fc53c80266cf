#include "signalled_work.h"

namespace kiln::collectives::detail {

WorkStatus SignalledWork::wait(std::chrono::milliseconds timeout) {
  const auto done = [this] { return status_.load(std::memory_order_acquire) != WorkStatus::kPending; };
  if (done()) return status_.load(std::memory_order_acquire);
  std::unique_lock<std::mutex> lock(mutex_);
  if (timeout.count() < 0) {
    finished_.wait(lock, done);
  } else if (!finished_.wait_for(lock, timeout, done)) {
    return WorkStatus::kTimedOut;
  }
  return status_.load(std::memory_order_acquire);
}

std::string SignalledWork::error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

bool SignalledWork::finish(WorkStatus status, const std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_.load(std::memory_order_relaxed) != WorkStatus::kPending) return false;
    error_ = error;
    status_.store(status, std::memory_order_release);
  }
  finished_.notify_all();
  return true;
}

std::shared_ptr<SignalledWork> finished_work(std::string description, WorkStatus status, const std::string& error) {
  auto work = std::make_shared<SignalledWork>(std::move(description));
  work->finish(status, error);
  return work;
}

}  // namespace kiln::collectives::detail
