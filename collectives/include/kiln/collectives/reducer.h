// Data-parallel gradient reduction, after c10d's Reducer: parameters are assigned to buckets
// in reverse registration order by a pure function (first bucket ~1 MiB so communication starts early, then
// ~25 MiB); autograd hooks copy each gradient into its bucket as soon as backward produces it; a full bucket is
// all-reduced (averaged) at once while backward goes on; finalize() waits for every bucket before the optimizer
// step. Buckets are launched strictly in index order so every rank issues the same collectives in the same order.
#pragma once
#include <ATen/Tensor.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/collectives/communicator.h"

namespace kiln::collectives {

struct BucketConfig {
  size_t first_bucket_bytes = size_t{1} << 20;  // 1 MiB
  size_t bucket_bytes = size_t{25} << 20;       // 25 MiB
};

// Pure: tensor i has `bytes[i]` bytes and dtype `dtypes[i]` (registration order). Returns buckets of tensor indices:
// walked in reverse registration order, a bucket closes once it reaches its cap (the first bucket's cap is
// first_bucket_bytes) or the dtype changes. Every index appears exactly once; within a bucket, indices are in the
// order gradients are expected (reverse registration order).
std::vector<std::vector<size_t>> assign_buckets(const std::vector<size_t>& bytes,
                                                const std::vector<at::ScalarType>& dtypes, const BucketConfig& cfg);

enum class Compression { kNone, kFp16, kBf16 };

struct ReducerOptions {
  BucketConfig buckets;
  Compression compression = Compression::kNone;  // gradients travel as 16-bit floats, are averaged, cast back
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};  // per bucket wait in finalize()
};

class GradientReducer {
 public:
  // `params`: the trainable parameters (requires_grad), in registration order. Registers autograd hooks.
  GradientReducer(Communicator& comm, std::vector<at::Tensor> params, ReducerOptions opts = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Waits for every bucket (launching any that never filled: parameters unused in this step contribute zeros),
  // writes the averaged gradients into each parameter's .grad, and checks that all ranks reduced the same
  // buckets this step (a desync is reported with both fingerprints). Call after backward, before optimizer step.
  void finalize();

  // Flags this rank contributes to the current step (e.g. "a stop signal arrived"); after finalize(),
  // agreed_step_flags() is the bitwise OR of every rank's. They travel in the per-step fingerprint exchange, so ranks
  // agree on a step-level decision without another collective. Cleared by each finalize().
  void set_step_flags(int64_t flags) { step_flags_ = flags; }
  int64_t agreed_step_flags() const { return agreed_flags_; }

  // Copies rank `root`'s values of `tensors` (parameters and buffers) to every rank.
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);

  size_t num_buckets() const { return buckets_.size(); }
  const std::vector<std::vector<size_t>>& bucket_indices() const { return bucket_indices_; }

  // Test seam: called (on the autograd thread) with the bucket index each time a bucket's all-reduce is launched.
  void set_launch_observer(std::function<void(size_t bucket)> observer) { on_launch_ = std::move(observer); }

 private:
  struct Bucket {
    std::vector<size_t> params;       // indices into params_
    std::vector<int64_t> offsets;     // element offset of each param in flat
    at::Tensor flat;                  // gradients, param dtype
    at::Tensor wire;                  // what travels (flat, or its 16-bit copy)
    size_t pending = 0;               // gradients still to arrive this step
    bool launched = false;
    WorkPtr work;
  };

  void on_gradient(size_t param, const at::Tensor& grad);
  void launch_ready_buckets();  // in index order, as far as buckets are ready
  void launch(size_t b);
  void reset_step();
  void check_step_fingerprints();
  int64_t step_flags_ = 0, agreed_flags_ = 0;
  at::Tensor allgather_on_param_device(const at::Tensor& mine);
  uint64_t layout_fingerprint() const;

  Communicator& comm_;
  std::vector<at::Tensor> params_;
  ReducerOptions opts_;
  std::vector<std::vector<size_t>> bucket_indices_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_, slot_of_;  // param → bucket, position in bucket
  std::vector<bool> seen_;                   // param's gradient arrived this step
  std::vector<unsigned> hooks_;              // autograd hook handles, removed on destruction
  size_t next_to_launch_ = 0;
  uint64_t step_ = 0;
  std::mutex mu_;
  std::function<void(size_t)> on_launch_;
};

}  // namespace kiln::collectives
