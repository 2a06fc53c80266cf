#include "kiln/collectives/reducer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <sstream>

#include "kiln/common/error.h"

namespace kiln::collectives {

std::vector<std::vector<size_t>> assign_buckets(const std::vector<size_t>& bytes,
                                                const std::vector<at::ScalarType>& dtypes, const BucketConfig& cfg) {
  if (bytes.size() != dtypes.size()) throw Error("assign_buckets: bytes and dtypes differ in length");
  std::vector<std::vector<size_t>> buckets;
  size_t filled = 0;  // bytes in the open bucket
  for (size_t k = bytes.size(); k-- > 0;) {
    const size_t cap = buckets.size() == 1 ? cfg.first_bucket_bytes : cfg.bucket_bytes;
    if (buckets.empty() || dtypes[k] != dtypes[buckets.back().front()] || filled >= cap) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(k);
    filled += bytes[k];
  }
  return buckets;
}

namespace {
// FNV-1a over 64-bit words: a cheap fingerprint of the bucket layout and of each step's launches.
uint64_t fnv(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ULL;
  return h;
}
constexpr uint64_t kFnvBasis = 1469598103934665603ULL;
}  // namespace

GradientReducer::GradientReducer(Communicator& comm, std::vector<at::Tensor> params, ReducerOptions opts)
    : comm_(comm), params_(std::move(params)), opts_(opts) {
  std::vector<size_t> bytes;
  std::vector<at::ScalarType> dtypes;
  for (const auto& p : params_) {
    if (!p.requires_grad()) throw Error("GradientReducer: a parameter does not require grad (freeze it before)");
    bytes.push_back(static_cast<size_t>(p.numel()) * p.element_size());
    dtypes.push_back(p.scalar_type());
  }
  bucket_indices_ = assign_buckets(bytes, dtypes, opts_.buckets);
  bucket_of_.resize(params_.size());
  slot_of_.resize(params_.size());
  seen_.assign(params_.size(), false);
  for (size_t b = 0; b < bucket_indices_.size(); ++b) {
    Bucket bucket;
    int64_t n = 0;
    for (size_t slot = 0; slot < bucket_indices_[b].size(); ++slot) {
      const size_t i = bucket_indices_[b][slot];
      bucket.params.push_back(i);
      bucket.offsets.push_back(n);
      bucket_of_[i] = b;
      slot_of_[i] = slot;
      n += params_[i].numel();
    }
    bucket.flat = at::zeros({n}, params_[bucket.params.front()].options().requires_grad(false));
    bucket.pending = bucket.params.size();
    buckets_.push_back(std::move(bucket));
  }
  // Every rank must have built the same buckets, or the all-reduces below would pair unrelated tensors.
  const at::Tensor mine = at::tensor({static_cast<int64_t>(layout_fingerprint())}, at::kLong);
  const at::Tensor all = allgather_on_param_device(mine);
  for (int r = 0; r < comm_.size(); ++r)
    if (all[r].item<int64_t>() != mine.item<int64_t>()) {
      std::ostringstream os;
      os << "gradient buckets differ between ranks (different models?): rank " << comm_.rank() << " layout "
         << std::hex << mine.item<int64_t>() << ", rank " << std::dec << r << " layout " << std::hex
         << all[r].item<int64_t>();
      throw Error(os.str(), ExitCode::kRankFailed);
    }
  for (size_t i = 0; i < params_.size(); ++i)
    hooks_.push_back(params_[i].register_hook([this, i](const at::Tensor& grad) { on_gradient(i, grad); }));
}

GradientReducer::~GradientReducer() {
  for (size_t i = 0; i < params_.size(); ++i) params_[i].remove_hook(hooks_[i]);
}

uint64_t GradientReducer::layout_fingerprint() const {
  uint64_t h = kFnvBasis;
  for (const auto& b : buckets_) {
    h = fnv(h, static_cast<uint64_t>(b.flat.numel()));
    h = fnv(h, static_cast<uint64_t>(b.flat.scalar_type()));
  }
  return h;
}

void GradientReducer::on_gradient(size_t i, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& b = buckets_[bucket_of_[i]];
  if (b.launched) throw Error("GradientReducer: gradient of a parameter arrived after its bucket was launched "
                              "(backward called twice without finalize?)");
  const size_t slot = slot_of_[i];
  b.flat.narrow(0, b.offsets[slot], params_[i].numel()).copy_(grad.reshape({-1}));
  if (!seen_[i]) {
    seen_[i] = true;
    --b.pending;
  }
  launch_ready_buckets();
}

void GradientReducer::launch_ready_buckets() {
  while (next_to_launch_ < buckets_.size() && buckets_[next_to_launch_].pending == 0) launch(next_to_launch_++);
}

void GradientReducer::launch(size_t index) {
  Bucket& b = buckets_[index];
  switch (opts_.compression) {
    case Compression::kNone: b.wire = b.flat; break;
    case Compression::kFp16: b.wire = b.flat.to(at::kHalf); break;
    case Compression::kBf16: b.wire = b.flat.to(at::kBFloat16); break;
  }
  b.launched = true;
  b.work = comm_.allreduce(b.wire, ReduceOp::kAvg);
  if (on_launch_) on_launch_(index);
}

void GradientReducer::finalize() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Parameters that got no gradient this step contribute zeros, so every rank still launches every bucket.
    for (auto& b : buckets_)
      for (size_t slot = 0; slot < b.params.size(); ++slot)
        if (!seen_[b.params[slot]]) {
          b.flat.narrow(0, b.offsets[slot], params_[b.params[slot]].numel()).zero_();
          seen_[b.params[slot]] = true;
          --b.pending;
        }
    launch_ready_buckets();
  }
  for (size_t index = 0; index < buckets_.size(); ++index) {
    Bucket& b = buckets_[index];
    wait_ok(b.work, opts_.timeout);
    if (opts_.compression != Compression::kNone) b.flat.copy_(b.wire);
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      at::Tensor& p = params_[b.params[slot]];
      const at::Tensor avg = b.flat.narrow(0, b.offsets[slot], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(avg);
      else
        p.mutable_grad() = avg.clone();
    }
  }
  check_step_fingerprints();
  reset_step();
}

// A rank that skipped or repeated a step would pair its all-reduces with another step's: compare (step, layout)
// across ranks each step and report both sides instead of silently averaging unrelated gradients.
void GradientReducer::check_step_fingerprints() {
  const auto fp = static_cast<int64_t>(fnv(layout_fingerprint(), step_));
  const at::Tensor all = allgather_on_param_device(at::tensor({static_cast<int64_t>(step_), fp, step_flags_}, at::kLong));
  const auto a = all.accessor<int64_t, 1>();
  agreed_flags_ = 0;
  for (int r = 0; r < comm_.size(); ++r) {
    if (a[3 * r + 1] != fp) {
      std::ostringstream os;
      os << "collective desync: rank " << comm_.rank() << " finished step " << step_ << " (fingerprint " << std::hex
         << fp << std::dec << ") while rank " << r << " finished step " << a[3 * r] << " (fingerprint " << std::hex
         << a[3 * r + 1] << ")";
      throw Error(os.str(), ExitCode::kRankFailed);
    }
    agreed_flags_ |= a[3 * r + 2];
  }
  step_flags_ = 0;
}

// Small CPU tensors in and out; the collective runs where the parameters live (NCCL only reduces CUDA tensors).
at::Tensor GradientReducer::allgather_on_param_device(const at::Tensor& mine) {
  const c10::Device device = params_.empty() ? c10::Device(c10::kCPU) : params_.front().device();
  return all_gather_small(comm_, mine, device, opts_.timeout);
}

void GradientReducer::reset_step() {
  for (auto& b : buckets_) {
    b.pending = b.params.size();
    b.launched = false;
    b.work.reset();
  }
  seen_.assign(params_.size(), false);
  next_to_launch_ = 0;
  ++step_;
}

void GradientReducer::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  at::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    at::Tensor buf = t.detach().contiguous();
    wait_ok(comm_.broadcast(buf, root), opts_.timeout);
    if (!buf.is_same(t)) t.detach().copy_(buf);
  }
}

}  // namespace kiln::collectives
