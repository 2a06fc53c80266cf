// MPI backend. One background thread per communicator makes every MPI call for it (dup, ops, collectives, free),
// FIFO, as blocking calls: Open MPI's nonblocking collectives only progress inside MPI calls, so a dedicated thread
// sitting in MPI_Allreduce is what lets a bucket's all-reduce advance while the caller keeps running backward.
// Callers only enqueue and wait on a condition variable (SignalledWork), so wait(timeout) and abort() never block
// on MPI. After an abort the thread may be stuck in MPI forever (a dead peer): it is then detached and the process
// must exit (kiln exits with code 4); MpiSession skips MPI_Finalize, which would wait for that peer too.
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <ATen/ATen.h>

#include "collective_desc.h"
#include "kiln/collectives/backends.h"
#include "kiln/common/log.h"
#include "mpi_check.h"
#include "mpi_half_ops.h"
#include "mpi_runtime.h"
#include "signalled_work.h"

namespace kiln::collectives {
namespace {

using detail::CollectiveDesc;
using detail::HalfOps;
using detail::SignalledWork;

// After an abort the destructor gives an in-flight MPI call this long to return before abandoning the thread: a call
// whose peers are all alive ends within milliseconds; one waiting on a dead or cut-off peer never does.
constexpr std::chrono::milliseconds kAbandonGrace{250};
constexpr int64_t kMaxCount = int64_t{1} << 30;  // MPI counts are int: larger tensors go in chunks

std::atomic<int> g_live_communicators{0};

MPI_Datatype mpi_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    default: return MPI_UINT16_T;  // float16/bfloat16 payloads (validated by collective_desc)
  }
}

MPI_Op mpi_op(at::ScalarType t, ReduceOp op, const HalfOps& half) {
  if (t == at::kHalf || t == at::kBFloat16) return half.op(t, op);
  switch (op) {
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
    default: return MPI_SUM;  // kAvg: sum, then divide in place
  }
}

// Calls fn(pointer, count) over `tensor` in pieces of at most kMaxCount elements.
template <typename Fn>
void in_chunks(const at::Tensor& tensor, Fn fn) {
  char* base = static_cast<char*>(tensor.data_ptr());
  const int64_t n = tensor.numel();
  const int64_t esize = tensor.element_size();
  for (int64_t off = 0; off < n; off += kMaxCount) {
    fn(base + off * esize, static_cast<int>(std::min(kMaxCount, n - off)));
  }
}

using MpiCall = std::function<void(MPI_Comm, const HalfOps&)>;

struct Task {
  std::shared_ptr<SignalledWork> work;
  MpiCall call;
};

// Shared by the communicator and its thread; the thread keeps it alive when it is abandoned.
struct MpiThreadState {
  std::mutex mutex;
  std::condition_variable changed;  // queue, stop, ready, exited
  std::deque<Task> queue;
  std::shared_ptr<SignalledWork> current;  // the Task inside MPI right now
  bool ready = false;
  bool stop = false;
  bool exited = false;
  bool aborted = false;
  bool abandoned = false;
  std::string setup_error;
  std::string abort_reason;
  std::string failure;  // the first MPI error: later Works fail with it, since ranks may now be out of step
  int rank = -1;
  int size = 0;
};

void run_tasks(MpiThreadState& s, MPI_Comm comm, const HalfOps& half) {
  for (;;) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(s.mutex);
      s.changed.wait(lock, [&] { return s.stop || !s.queue.empty(); });
      if (s.queue.empty()) return;  // stopping, and every queued collective has run
      task = std::move(s.queue.front());
      s.queue.pop_front();
      s.current = task.work;
    }
    std::string error;
    try {
      task.call(comm, half);
    } catch (const std::exception& e) {
      error = "rank " + std::to_string(s.rank) + ": " + e.what();
    }
    std::deque<Task> failed;
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.current.reset();
      if (s.abandoned) return;
      if (!error.empty() && s.failure.empty()) {
        s.failure = error;
        failed.swap(s.queue);
      }
    }
    task.work->finish(error.empty() ? WorkStatus::kCompleted : WorkStatus::kFailed, error);
    for (auto& t : failed) t.work->finish(WorkStatus::kFailed, "communicator failed earlier: " + error);
  }
}

void mpi_thread(std::shared_ptr<MpiThreadState> state) {
  MpiThreadState& s = *state;
  MPI_Comm comm = MPI_COMM_NULL;
  std::unique_ptr<HalfOps> half;
  try {
    KILN_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
    KILN_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
    KILN_MPI_CHECK(MPI_Comm_rank(comm, &s.rank));
    KILN_MPI_CHECK(MPI_Comm_size(comm, &s.size));
    half = std::make_unique<HalfOps>();
  } catch (const std::exception& e) {
    s.setup_error = e.what();
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.ready = true;
  }
  s.changed.notify_all();
  if (half) run_tasks(s, comm, *half);

  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.abandoned) {  // MPI calls are no longer ours to make: the process is on its way out
    if (half) half->leak();
    return;
  }
  half.reset();
  int finalized = 0;
  KILN_MPI_WARN(MPI_Finalized(&finalized));
  if (comm != MPI_COMM_NULL && !finalized) KILN_MPI_WARN(MPI_Comm_free(&comm));
  s.exited = true;
  s.changed.notify_all();
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() : state_(std::make_shared<MpiThreadState>()) {
    if (!MpiSession::active()) throw Error("make_mpi_communicator: create a kiln::collectives::MpiSession first");
    if (g_live_communicators.fetch_add(1) > 0 && detail::mpi_thread_level() < MPI_THREAD_MULTIPLE) {
      --g_live_communicators;
      throw Error("a second live MPI communicator needs MPI_THREAD_MULTIPLE (MPI provides less): each "
                  "communicator's thread calls MPI on its own");
    }
    thread_ = std::thread(mpi_thread, state_);
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->changed.wait(lock, [&] { return state_->ready; });
    if (!state_->setup_error.empty()) {
      const std::string why = state_->setup_error;
      lock.unlock();
      thread_.join();
      --g_live_communicators;
      throw Error("MPI communicator setup: " + why);
    }
  }

  ~MpiCommunicator() override {
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->stop = true;
    state_->changed.notify_all();
    if (!state_->aborted) {
      lock.unlock();
      thread_.join();  // drains the queue: destroy after waiting for (or aborting) pending Works
    } else if (state_->changed.wait_for(lock, kAbandonGrace, [&] { return state_->exited; })) {
      lock.unlock();
      thread_.join();
    } else {
      state_->abandoned = true;
      lock.unlock();
      thread_.detach();
      detail::mpi_mark_abandoned();
      log::warn("MPI communicator thread left inside an aborted MPI call; the process must exit");
      return;  // keep counting it as live: MPI may not be called from another thread while it is stuck
    }
    --g_live_communicators;
  }

  int rank() const override { return state_->rank; }
  int size() const override { return state_->size; }
  std::string backend() const override { return "mpi"; }

  WorkPtr allreduce(at::Tensor& tensor, ReduceOp op) override {
    const CollectiveDesc d = detail::allreduce_desc("mpi", check_cpu(tensor), op, seq_);
    const int size = this->size();
    return submit(d, [tensor, op, size](MPI_Comm comm, const HalfOps& half) mutable {
      const MPI_Datatype type = mpi_type(tensor.scalar_type());
      const MPI_Op mop = mpi_op(tensor.scalar_type(), op, half);
      in_chunks(tensor, [&](void* p, int count) {
        KILN_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, count, type, mop, comm));
      });
      if (op == ReduceOp::kAvg && size > 1) tensor.div_(size);
    });
  }

  WorkPtr broadcast(at::Tensor& tensor, int root) override {
    const CollectiveDesc d = detail::broadcast_desc("mpi", check_cpu(tensor), root, size(), seq_);
    return submit(d, [tensor, root](MPI_Comm comm, const HalfOps&) {
      const MPI_Datatype type = mpi_type(tensor.scalar_type());
      in_chunks(tensor, [&](void* p, int count) { KILN_MPI_CHECK(MPI_Bcast(p, count, type, root, comm)); });
    });
  }

  WorkPtr allgather(const at::Tensor& input, at::Tensor& output) override {
    const CollectiveDesc d = detail::allgather_desc("mpi", check_cpu(input), check_cpu(output), size(), seq_);
    if (input.numel() > kMaxCount) {
      throw Error("mpi: allgather of more than " + std::to_string(kMaxCount) + " elements per rank: " + d.describe());
    }
    return submit(d, [input, output](MPI_Comm comm, const HalfOps&) {
      const MPI_Datatype type = mpi_type(input.scalar_type());
      const int count = static_cast<int>(input.numel());
      KILN_MPI_CHECK(MPI_Allgather(input.data_ptr(), count, type, output.data_ptr(), count, type, comm));
    });
  }

  WorkPtr barrier() override {
    return submit(detail::barrier_desc(seq_),
                  [](MPI_Comm comm, const HalfOps&) { KILN_MPI_CHECK(MPI_Barrier(comm)); });
  }

  void abort(const std::string& reason) override {
    std::deque<Task> queued;
    std::shared_ptr<SignalledWork> current;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->aborted) return;
      state_->aborted = true;
      state_->abort_reason = reason;
      queued.swap(state_->queue);
      current = state_->current;
    }
    // The call in flight may never return; its Work is finished now and whatever MPI does later is ignored.
    if (current) current->finish(WorkStatus::kAborted, reason);
    for (auto& t : queued) t.work->finish(WorkStatus::kAborted, reason);
  }

 private:
  static const at::Tensor& check_cpu(const at::Tensor& t) {
    if (t.defined() && !t.device().is_cpu()) {
      throw Error("mpi: the MPI communicator takes CPU tensors, got one on " + t.device().str() +
                  " (use the NCCL backend for CUDA tensors)");
    }
    return t;
  }

  // The sequence number advances only for calls that passed the argument checks, so ranks stay in step.
  WorkPtr submit(const CollectiveDesc& desc, MpiCall call) {
    ++seq_;
    auto work = std::make_shared<SignalledWork>(desc.describe());
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->aborted) {
        work->finish(WorkStatus::kAborted, state_->abort_reason);
        return work;
      }
      if (!state_->failure.empty()) {
        work->finish(WorkStatus::kFailed, "communicator failed earlier: " + state_->failure);
        return work;
      }
      state_->queue.push_back(Task{work, std::move(call)});
    }
    state_->changed.notify_all();
    return work;
  }

  std::shared_ptr<MpiThreadState> state_;
  std::thread thread_;
  uint64_t seq_ = 0;  // submissions come from one caller thread at a time
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace kiln::collectives
