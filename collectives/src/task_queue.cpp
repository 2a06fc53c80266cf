#include "task_queue.h"

namespace kiln::collectives::detail {

WorkPtr TaskQueue::submit(const CollectiveDesc& desc, Call call) {
  auto work = std::make_shared<SignalledWork>(desc.describe());
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (aborted_) {
      work->finish(WorkStatus::kAborted, abort_reason_);
      return work;
    }
    if (!failure_.empty()) {
      work->finish(WorkStatus::kFailed, "communicator failed earlier: " + failure_);
      return work;
    }
    queue_.push_back(Task{work, std::move(call)});
  }
  changed.notify_all();
  return work;
}

void TaskQueue::abort(const std::string& reason) {
  std::deque<Task> queued;
  std::shared_ptr<SignalledWork> current;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (aborted_) return;
    aborted_ = true;
    abort_reason_ = reason;
    queued.swap(queue_);
    current = current_;
  }
  // The call in flight may never return; its Work is finished now and whatever the backend does later is ignored.
  if (current) current->finish(WorkStatus::kAborted, reason);
  for (auto& t : queued) t.work->finish(WorkStatus::kAborted, reason);
}

void TaskQueue::run(int rank) {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex);
      changed.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every queued call has run
      task = std::move(queue_.front());
      queue_.pop_front();
      current_ = task.work;
    }
    std::string error;
    try {
      task.call();
    } catch (const std::exception& e) {
      error = "rank " + std::to_string(rank) + ": " + e.what();
    }
    std::deque<Task> failed;
    {
      std::lock_guard<std::mutex> lock(mutex);
      current_.reset();
      if (abandoned_) return;
      if (!error.empty() && failure_.empty()) {
        failure_ = error;
        failed.swap(queue_);
      }
    }
    task.work->finish(error.empty() ? WorkStatus::kCompleted : WorkStatus::kFailed, error);
    for (auto& t : failed) t.work->finish(WorkStatus::kFailed, "communicator failed earlier: " + error);
  }
}

bool TaskQueue::exit(const std::function<void()>& teardown) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (abandoned_) return false;
    if (teardown) teardown();
    exited_ = true;
  }
  changed.notify_all();
  return true;
}

bool TaskQueue::stop_and_join(std::thread& thread, std::chrono::milliseconds grace) {
  std::unique_lock<std::mutex> lock(mutex);
  stop_ = true;
  changed.notify_all();
  if (!aborted_ || changed.wait_for(lock, grace, [&] { return exited_; })) {
    lock.unlock();
    thread.join();  // without an abort this drains the queue: destroy after waiting for (or aborting) pending Works
    return true;
  }
  abandoned_ = true;
  lock.unlock();
  thread.detach();
  return false;
}

}  // namespace kiln::collectives::detail
