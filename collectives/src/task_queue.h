// The queue between a communicator and the one background thread that makes all of its backend's calls (MPI, Gloo),
// in submission order, as blocking calls: a bucket's all-reduce advances on that thread while the caller keeps
// running backward. Callers only enqueue and wait on a condition variable (SignalledWork), so wait(timeout) and
// abort() never block on the backend. The first failed call fails every later Work ("communicator failed earlier"),
// since the ranks may now be out of step. After an abort the thread may be stuck in the backend forever (a dead or
// cut-off peer): the communicator's destructor then abandons it (stop_and_join), and the thread, which holds the
// queue through a shared_ptr, must not touch the backend again.
#pragma once
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "collective_desc.h"
#include "signalled_work.h"

namespace kiln::collectives::detail {

class TaskQueue {
 public:
  using Call = std::function<void()>;

  // Caller side. Fails at once when the communicator was aborted or failed earlier.
  WorkPtr submit(const CollectiveDesc& desc, Call call);
  // Finishes the call in flight and every queued one as kAborted now; later submits are kAborted too.
  void abort(const std::string& reason);

  // Backend thread: runs calls until stop_and_join() is called and the queue is empty, or the thread is abandoned.
  // `rank` names the rank in errors.
  void run(int rank);
  // Backend thread, after run(): unless the thread was abandoned meanwhile, runs `teardown` (under the lock, so the
  // destructor cannot abandon the thread halfway) and lets stop_and_join() return. False when abandoned: the
  // backend is no longer this thread's to call.
  bool exit(const std::function<void()>& teardown);

  // Communicator's destructor. Without an abort, waits for the queue to drain and joins. After one, gives the call
  // in flight `grace` to return; returns false when it did not and `thread` was detached (abandoned).
  bool stop_and_join(std::thread& thread, std::chrono::milliseconds grace);

  std::mutex mutex;  // also guards the backend's own setup fields
  std::condition_variable changed;

 private:
  struct Task {
    std::shared_ptr<SignalledWork> work;
    Call call;
  };
  std::deque<Task> queue_;
  std::shared_ptr<SignalledWork> current_;  // the call inside the backend right now
  bool stop_ = false;
  bool exited_ = false;
  bool aborted_ = false;
  bool abandoned_ = false;
  std::string abort_reason_;
  std::string failure_;  // the first failed call
};

}  // namespace kiln::collectives::detail
