// NCCL backend (KILN_HAVE_NCCL). Collectives run on the communicator's own CUDA stream, ordered after the work
// already queued on the legacy default stream (LibTorch's default; callers on other streams synchronise first).
// A Work is a CUDA event recorded after the collective; wait() polls it, so timeouts and aborts need no help from
// the GPU. abort() calls ncclCommAbort, which also ends kernels stuck waiting for a dead peer.
// LibTorch's CUDA headers are not used (Debian's LibTorch is CPU-only): tensors are reached through data_ptr().
#ifdef KILN_HAVE_NCCL
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include <ATen/ATen.h>

#include "collective_desc.h"
#include "kiln/collectives/backends.h"
#include "nccl_check.h"
#include "signalled_work.h"

namespace kiln::collectives {
namespace {

using detail::CollectiveDesc;

ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    default: return ncclInt64;  // the remaining dtype collective_desc admits
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAvg: return ncclAvg;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  return ncclSum;
}

// What Works need from their communicator, even after it is destroyed (comm is then null).
struct NcclState {
  std::mutex mutex;  // guards comm against ncclCommAbort/Destroy while a Work asks it for async errors
  ncclComm_t comm = nullptr;
  bool aborted = false;
  std::string abort_reason;
  int rank = 0;
};

class NcclWork final : public Work {
 public:
  NcclWork(std::string description, std::shared_ptr<NcclState> state, cudaEvent_t done,
           std::vector<at::Tensor> keep_alive)
      : description_(std::move(description)),
        state_(std::move(state)),
        done_(done),
        keep_alive_(std::move(keep_alive)) {}
  ~NcclWork() override { KILN_CUDA_WARN(cudaEventDestroy(done_)); }

  bool is_completed() override { return poll() != WorkStatus::kPending; }

  WorkStatus wait(std::chrono::milliseconds timeout = kNoTimeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto nap = std::chrono::microseconds(10);
    for (;;) {
      const WorkStatus s = poll();
      if (s != WorkStatus::kPending) return s;
      if (timeout.count() >= 0 && std::chrono::steady_clock::now() >= deadline) return WorkStatus::kTimedOut;
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(1000));
    }
  }

  std::string error() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }
  std::string describe() const override { return description_; }

 private:
  WorkStatus poll() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != WorkStatus::kPending) return status_;
    {
      std::lock_guard<std::mutex> state_lock(state_->mutex);
      if (state_->aborted) return finish(WorkStatus::kAborted, state_->abort_reason);
      const cudaError_t rc = cudaEventQuery(done_);
      if (rc == cudaSuccess) return finish(WorkStatus::kCompleted, "");
      if (rc != cudaErrorNotReady) {
        return finish(WorkStatus::kFailed, detail::cuda_failure(rc, "cudaEventQuery(done_)", __FILE__, __LINE__));
      }
      (void)cudaGetLastError();  // "not ready" is an answer, not an error to leave behind
      ncclResult_t async = ncclSuccess;
      if (state_->comm && ncclCommGetAsyncError(state_->comm, &async) == ncclSuccess && async != ncclSuccess &&
          async != ncclInProgress) {
        return finish(WorkStatus::kFailed, "rank " + std::to_string(state_->rank) + ": NCCL async error: " +
                                               ncclGetErrorString(async));
      }
    }
    return WorkStatus::kPending;
  }

  WorkStatus finish(WorkStatus s, const std::string& error) {
    status_ = s;
    error_ = error;
    keep_alive_.clear();
    return s;
  }

  const std::string description_;
  std::shared_ptr<NcclState> state_;
  cudaEvent_t done_;
  std::vector<at::Tensor> keep_alive_;  // the caching allocator must not hand the memory out while NCCL writes it
  mutable std::mutex mutex_;
  WorkStatus status_ = WorkStatus::kPending;
  std::string error_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(int rank, int size, int device, const std::string& unique_id)
      : state_(std::make_shared<NcclState>()), size_(size), device_(device) {
    if (unique_id.size() != NCCL_UNIQUE_ID_BYTES) {
      throw Error("NCCL unique id must be " + std::to_string(NCCL_UNIQUE_ID_BYTES) + " bytes, got " +
                  std::to_string(unique_id.size()));
    }
    ncclUniqueId id;
    std::memcpy(id.internal, unique_id.data(), NCCL_UNIQUE_ID_BYTES);
    state_->rank = rank;
    try {
      KILN_CUDA_CHECK(cudaSetDevice(device_));
      KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      KILN_CUDA_CHECK(cudaEventCreateWithFlags(&inputs_ready_, cudaEventDisableTiming));
      KILN_CUDA_CHECK(cudaMalloc(&barrier_buffer_, sizeof(float)));
      KILN_CUDA_CHECK(cudaMemsetAsync(barrier_buffer_, 0, sizeof(float), stream_));
      ncclComm_t comm = nullptr;
      KILN_NCCL_CHECK(ncclCommInitRank(&comm, size, id, rank));
      state_->comm = comm;
    } catch (...) {
      release();
      throw;
    }
  }

  ~NcclCommunicator() override { release(); }

  int rank() const override { return state_->rank; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  WorkPtr allreduce(at::Tensor& tensor, ReduceOp op) override {
    const CollectiveDesc d = detail::allreduce_desc("nccl", check_cuda(tensor), op, seq_);
    return launch(d, {tensor}, [&](ncclComm_t comm) {
      KILN_NCCL_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                    nccl_type(tensor.scalar_type()), nccl_op(op), comm, stream_));
    });
  }

  WorkPtr broadcast(at::Tensor& tensor, int root) override {
    const CollectiveDesc d = detail::broadcast_desc("nccl", check_cuda(tensor), root, size_, seq_);
    return launch(d, {tensor}, [&](ncclComm_t comm) {
      KILN_NCCL_CHECK(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                    nccl_type(tensor.scalar_type()), root, comm, stream_));
    });
  }

  WorkPtr allgather(const at::Tensor& input, at::Tensor& output) override {
    const CollectiveDesc d = detail::allgather_desc("nccl", check_cuda(input), check_cuda(output), size_, seq_);
    return launch(d, {input, output}, [&](ncclComm_t comm) {
      KILN_NCCL_CHECK(ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(),
                                    nccl_type(input.scalar_type()), comm, stream_));
    });
  }

  WorkPtr barrier() override {
    return launch(detail::barrier_desc(seq_), {}, [&](ncclComm_t comm) {
      KILN_NCCL_CHECK(ncclAllReduce(barrier_buffer_, barrier_buffer_, 1, ncclFloat32, ncclSum, comm, stream_));
    });
  }

  void abort(const std::string& reason) override {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->aborted) return;
    state_->aborted = true;
    state_->abort_reason = reason;
    if (state_->comm) KILN_NCCL_WARN(ncclCommAbort(state_->comm));  // also frees the communicator
    state_->comm = nullptr;
  }

 private:
  const at::Tensor& check_cuda(const at::Tensor& t) const {
    if (!t.defined() || !t.is_cuda()) {
      throw Error(std::string("nccl: the NCCL communicator takes CUDA tensors, got ") +
                  (t.defined() ? "one on " + t.device().str() : "an undefined tensor") +
                  " (use the MPI backend for CPU tensors)");
    }
    if (t.device().index() != device_) {
      throw Error("nccl: tensor on " + t.device().str() + " but this communicator uses cuda:" +
                  std::to_string(device_));
    }
    return t;
  }

  template <typename Enqueue>
  WorkPtr launch(const CollectiveDesc& d, std::vector<at::Tensor> keep_alive, Enqueue enqueue) {
    ++seq_;  // only calls that passed the argument checks count, so ranks stay in step
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (state_->aborted) return detail::finished_work(d.describe(), WorkStatus::kAborted, state_->abort_reason);
    KILN_CUDA_CHECK(cudaSetDevice(device_));
    KILN_CUDA_CHECK(cudaEventRecord(inputs_ready_, cudaStreamLegacy));
    KILN_CUDA_CHECK(cudaStreamWaitEvent(stream_, inputs_ready_, 0));
    enqueue(state_->comm);
    cudaEvent_t done = nullptr;
    KILN_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    const cudaError_t rc = cudaEventRecord(done, stream_);
    if (rc != cudaSuccess) {
      KILN_CUDA_WARN(cudaEventDestroy(done));
      throw Error(detail::cuda_failure(rc, "cudaEventRecord(done, stream_)", __FILE__, __LINE__));
    }
    return std::make_shared<NcclWork>(d.describe(), state_, done, std::move(keep_alive));
  }

  // Destroying without an abort flushes outstanding collectives first (as the MPI backend drains its queue).
  void release() noexcept {
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      if (state_->comm) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
        KILN_NCCL_WARN(ncclCommFinalize(state_->comm));
#endif
        KILN_NCCL_WARN(ncclCommDestroy(state_->comm));
        state_->comm = nullptr;
      }
    }
    if (barrier_buffer_) KILN_CUDA_WARN(cudaFree(barrier_buffer_));
    if (inputs_ready_) KILN_CUDA_WARN(cudaEventDestroy(inputs_ready_));
    if (stream_) KILN_CUDA_WARN(cudaStreamDestroy(stream_));
    barrier_buffer_ = nullptr;
    inputs_ready_ = nullptr;
    stream_ = nullptr;
  }

  std::shared_ptr<NcclState> state_;
  const int size_;
  const int device_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t inputs_ready_ = nullptr;
  float* barrier_buffer_ = nullptr;
  uint64_t seq_ = 0;
};

}  // namespace

bool nccl_available() { return true; }

int nccl_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

std::string nccl_make_unique_id() {
  ncclUniqueId id;
  KILN_NCCL_CHECK(ncclGetUniqueId(&id));
  return std::string(id.internal, NCCL_UNIQUE_ID_BYTES);
}

std::unique_ptr<Communicator> make_nccl_communicator(int rank, int size, int device, const std::string& unique_id) {
  return std::make_unique<NcclCommunicator>(rank, size, device, unique_id);
}

}  // namespace kiln::collectives
#endif  // KILN_HAVE_NCCL
