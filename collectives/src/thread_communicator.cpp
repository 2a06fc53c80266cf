// In-process thread backend (Gloo's test idea): N communicators share one ThreadWorld. A call joins the rendezvous
// for its sequence number; the last rank to arrive runs the collective over every rank's tensors and finishes every
// rank's Work. A rank whose call differs from the first arrival's fails the whole rendezvous (the desync check).
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include <ATen/ATen.h>

#include "collective_desc.h"
#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"
#include "signalled_work.h"

namespace kiln::collectives {
namespace {

using detail::CollectiveDesc;
using detail::CollectiveKind;
using detail::SignalledWork;

struct Arrival {
  CollectiveDesc desc;
  at::Tensor tensor;  // allreduce/broadcast: in place; allgather: the input
  at::Tensor output;  // allgather only
  std::shared_ptr<SignalledWork> work;
};

struct Rendezvous {
  std::vector<std::optional<Arrival>> arrivals;
  int arrived = 0;
  int first_rank = -1;
  std::string mismatch;  // set once two ranks disagree; every Work of this rendezvous then fails with it
};

void combine(at::Tensor& acc, const at::Tensor& other, ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: acc.add_(other); break;
    case ReduceOp::kMax: at::maximum_out(acc, acc, other); break;
    case ReduceOp::kMin: at::minimum_out(acc, acc, other); break;
  }
}

// Runs a complete, matching rendezvous. Rank 0's tensor is the accumulator, so nothing is allocated.
void run_collective(std::vector<Arrival>& ranks) {
  const CollectiveDesc& d = ranks.front().desc;
  const int n = static_cast<int>(ranks.size());
  switch (d.kind) {
    case CollectiveKind::kAllreduce: {
      at::Tensor acc = ranks[0].tensor;
      for (int r = 1; r < n; ++r) combine(acc, ranks[r].tensor, d.op);
      if (d.op == ReduceOp::kAvg && n > 1) acc.div_(n);
      for (int r = 1; r < n; ++r) ranks[r].tensor.copy_(acc);
      break;
    }
    case CollectiveKind::kBroadcast:
      for (int r = 0; r < n; ++r) {
        if (r != d.root) ranks[r].tensor.copy_(ranks[d.root].tensor);
      }
      break;
    case CollectiveKind::kAllgather:
      for (int r = 0; r < n; ++r) {
        at::Tensor flat = ranks[r].output.view({-1});
        for (int src = 0; src < n; ++src) flat.narrow(0, src * d.numel, d.numel).copy_(ranks[src].tensor.view({-1}));
      }
      break;
    case CollectiveKind::kBarrier: break;
  }
}

class ThreadWorld {
 public:
  explicit ThreadWorld(int size) : size_(size) {}
  int size() const { return size_; }

  WorkPtr join(int rank, Arrival arrival) {
    const uint64_t seq = arrival.desc.seq;
    WorkPtr result = arrival.work;
    std::vector<Arrival> ready;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (aborted_) return detail::finished_work(arrival.desc.describe(), WorkStatus::kAborted, abort_reason_);
      Rendezvous& rv = pending_[seq];
      if (rv.arrivals.empty()) rv.arrivals.resize(size_);
      check_match(rv, rank, arrival.desc);
      if (!rv.mismatch.empty()) arrival.work->finish(WorkStatus::kFailed, rv.mismatch);
      rv.arrivals[rank] = std::move(arrival);
      if (++rv.arrived < size_) return result;
      if (rv.mismatch.empty()) {
        for (auto& a : rv.arrivals) ready.push_back(std::move(*a));
      }
      pending_.erase(seq);
    }
    // Outside the lock, so other ranks keep submitting; an abort meanwhile still finishes their Works first.
    if (!ready.empty()) execute(ready);
    return result;
  }

  void abort(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_) return;
    aborted_ = true;
    abort_reason_ = reason;
    for (auto& [seq, rv] : pending_) {
      for (auto& a : rv.arrivals) {
        if (a) a->work->finish(WorkStatus::kAborted, reason);
      }
    }
    pending_.clear();
  }

 private:
  // Compares against the first arrival; on the first disagreement every arrived Work fails naming both calls.
  void check_match(Rendezvous& rv, int rank, const CollectiveDesc& desc) {
    if (rv.first_rank < 0) {
      rv.first_rank = rank;
      return;
    }
    const CollectiveDesc& first = rv.arrivals[rv.first_rank]->desc;
    if (!rv.mismatch.empty() || first.same_call(desc)) return;
    rv.mismatch = "collective mismatch (desync) at #" + std::to_string(desc.seq) + ": rank " +
                  std::to_string(rv.first_rank) + " called " + first.describe() + ", rank " + std::to_string(rank) +
                  " called " + desc.describe();
    for (auto& a : rv.arrivals) {
      if (a) a->work->finish(WorkStatus::kFailed, rv.mismatch);
    }
  }

  static void execute(std::vector<Arrival>& ranks) {
    std::string error;
    try {
      run_collective(ranks);
    } catch (const std::exception& e) {
      error = e.what();
    }
    for (auto& a : ranks) a.work->finish(error.empty() ? WorkStatus::kCompleted : WorkStatus::kFailed, error);
  }

  const int size_;
  std::mutex mutex_;
  std::map<uint64_t, Rendezvous> pending_;
  bool aborted_ = false;
  std::string abort_reason_;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadWorld> world, int rank) : world_(std::move(world)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  std::string backend() const override { return "thread"; }

  WorkPtr allreduce(at::Tensor& tensor, ReduceOp op) override {
    return submit(detail::allreduce_desc("thread", tensor, op, seq_), tensor, {});
  }
  WorkPtr broadcast(at::Tensor& tensor, int root) override {
    return submit(detail::broadcast_desc("thread", tensor, root, size(), seq_), tensor, {});
  }
  WorkPtr allgather(const at::Tensor& input, at::Tensor& output) override {
    return submit(detail::allgather_desc("thread", input, output, size(), seq_), input, output);
  }
  WorkPtr barrier() override { return submit(detail::barrier_desc(seq_), {}, {}); }
  void abort(const std::string& reason) override { world_->abort(reason); }

 private:
  // The sequence number advances only for calls that passed the argument checks, so ranks stay in step.
  WorkPtr submit(CollectiveDesc desc, at::Tensor tensor, at::Tensor output) {
    ++seq_;
    auto work = std::make_shared<SignalledWork>(desc.describe());
    return world_->join(rank_, Arrival{desc, std::move(tensor), std::move(output), std::move(work)});
  }

  std::shared_ptr<ThreadWorld> world_;
  const int rank_;
  uint64_t seq_ = 0;  // calls on one communicator come from its own rank-thread
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_thread_world(int world_size) {
  if (world_size < 1) throw Error("thread world size must be >= 1, got " + std::to_string(world_size));
  auto world = std::make_shared<ThreadWorld>(world_size);
  std::vector<std::unique_ptr<Communicator>> comms;
  for (int r = 0; r < world_size; ++r) comms.push_back(std::make_unique<ThreadCommunicator>(world, r));
  return comms;
}

}  // namespace kiln::collectives
