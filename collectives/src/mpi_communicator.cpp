// MPI backend. One background thread per communicator makes every MPI call for it (dup, ops, collectives, free),
// FIFO, as blocking calls, through a TaskQueue (task_queue.h): Open MPI's nonblocking collectives only progress
// inside MPI calls, so a dedicated thread sitting in MPI_Allreduce is what lets a bucket's all-reduce advance while
// the caller keeps running backward. After an abort the thread may be stuck in MPI forever (a dead peer): it is then
// abandoned and the process must exit (kiln exits with code 4); MpiSession skips MPI_Finalize, which would wait for
// that peer too.
#include <mpi.h>

#include <algorithm>
#include <atomic>
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
#include "task_queue.h"

namespace kiln::collectives {
namespace {

using detail::CollectiveDesc;
using detail::HalfOps;

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

using MpiCall = std::function<void(MPI_Comm, const HalfOps&)>;

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

// Shared by the communicator and its thread; the thread keeps it alive when it is abandoned.
struct MpiThreadState {
  detail::TaskQueue tasks;
  MPI_Comm comm = MPI_COMM_NULL;  // set up by the thread before `ready`; used only on the thread
  std::unique_ptr<HalfOps> half;
  bool ready = false;  // guarded by tasks.mutex, as setup_error
  std::string setup_error;
  int rank = -1;
  int size = 0;
};

void mpi_thread(std::shared_ptr<MpiThreadState> state) {
  MpiThreadState& s = *state;
  try {
    KILN_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &s.comm));
    KILN_MPI_CHECK(MPI_Comm_set_errhandler(s.comm, MPI_ERRORS_RETURN));
    KILN_MPI_CHECK(MPI_Comm_rank(s.comm, &s.rank));
    KILN_MPI_CHECK(MPI_Comm_size(s.comm, &s.size));
    s.half = std::make_unique<HalfOps>();
  } catch (const std::exception& e) {
    s.setup_error = e.what();
  }
  {
    std::lock_guard<std::mutex> lock(s.tasks.mutex);
    s.ready = true;
  }
  s.tasks.changed.notify_all();
  if (s.half) s.tasks.run(s.rank);
  const bool mine = s.tasks.exit([&] {
    s.half.reset();
    int finalized = 0;
    KILN_MPI_WARN(MPI_Finalized(&finalized));
    if (s.comm != MPI_COMM_NULL && !finalized) KILN_MPI_WARN(MPI_Comm_free(&s.comm));
  });
  if (!mine && s.half) s.half->leak();  // abandoned: MPI calls are no longer ours to make, the process is exiting
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
    std::unique_lock<std::mutex> lock(state_->tasks.mutex);
    state_->tasks.changed.wait(lock, [&] { return state_->ready; });
    if (!state_->setup_error.empty()) {
      const std::string why = state_->setup_error;
      lock.unlock();
      thread_.join();
      --g_live_communicators;
      throw Error("MPI communicator setup: " + why);
    }
  }

  ~MpiCommunicator() override {
    if (!state_->tasks.stop_and_join(thread_, kAbandonGrace)) {
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

  void abort(const std::string& reason) override { state_->tasks.abort(reason); }

 private:
  static const at::Tensor& check_cpu(const at::Tensor& t) { return detail::require_cpu("mpi", "MPI", t); }
  // The sequence number advances only for calls that passed the argument checks, so ranks stay in step.
  WorkPtr submit(const CollectiveDesc& desc, MpiCall call) {
    ++seq_;
    return state_->tasks.submit(desc,
                                [state = state_.get(), call = std::move(call)] { call(state->comm, *state->half); });
  }

  std::shared_ptr<MpiThreadState> state_;
  std::thread thread_;
  uint64_t seq_ = 0;  // submissions come from one caller thread at a time
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace kiln::collectives
