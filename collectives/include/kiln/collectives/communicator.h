// Collectives (docs/architecture.md): a small Communicator interface whose operations return a Work. Backends: MPI
// (CPU tensors), NCCL (CUDA tensors), and an in-process thread backend for unit tests. No one may touch a tensor
// while its Work is pending. Setup happens once in the backend's constructor; the calls below are the hot path.
#pragma once
#include <ATen/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kiln/common/error.h"

namespace kiln::collectives {

enum class ReduceOp { kSum, kAvg, kMax, kMin };
const char* to_string(ReduceOp op);

enum class WorkStatus { kPending, kCompleted, kFailed, kTimedOut, kAborted };
const char* to_string(WorkStatus s);

constexpr std::chrono::milliseconds kNoTimeout{-1};

// A collective in flight. wait() returns instead of hanging when the communicator is aborted or the timeout passes.
class Work {
 public:
  virtual ~Work() = default;
  virtual bool is_completed() = 0;  // non-blocking
  virtual WorkStatus wait(std::chrono::milliseconds timeout = kNoTimeout) = 0;
  virtual std::string error() const = 0;  // why it failed/aborted (empty when completed)
  virtual std::string describe() const = 0;  // "allreduce(sum) #17 float32 x 1048576 (4 MiB)"
};
using WorkPtr = std::shared_ptr<Work>;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi", "nccl", "thread"

  // In place on every rank; kAvg divides by size(). Dtypes: float32, float64, float16, bfloat16 (and int64 for
  // kSum/kMax/kMin). The tensor must be contiguous.
  virtual WorkPtr allreduce(at::Tensor& tensor, ReduceOp op) = 0;
  virtual WorkPtr broadcast(at::Tensor& tensor, int root) = 0;  // in place
  // output: contiguous, size() * input.numel() elements of input's dtype; rank r's input lands at [r * n, (r+1) * n).
  virtual WorkPtr allgather(const at::Tensor& input, at::Tensor& output) = 0;
  virtual WorkPtr barrier() = 0;
  // Fails every pending and future Work promptly with `reason` (e.g. "rank 3 on node02 died at step 120").
  virtual void abort(const std::string& reason) = 0;
};

// A collective that did not complete (failed, timed out or aborted), as wait_ok throws it: callers that know more
// (a control plane that names the rank that died) can tell it from other errors.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

// Throws CollectiveError naming the Work unless it completed (for call sites with nothing better to do); its exit
// code is kRankFailed when the Work was aborted.
void wait_ok(const WorkPtr& work, std::chrono::milliseconds timeout = kNoTimeout);

// Every rank's copy of a small 1-D CPU tensor, rank by rank: [size() * n] on the CPU. The collective runs on `device`
// (NCCL gathers CUDA tensors only).
at::Tensor all_gather_small(Communicator& comm, const at::Tensor& mine, c10::Device device,
                            std::chrono::milliseconds timeout = kNoTimeout);

}  // namespace kiln::collectives
