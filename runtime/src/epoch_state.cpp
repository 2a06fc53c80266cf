#include "epoch_state.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <string>

#include "kiln/common/error.h"

namespace kiln::runtime {
namespace {
constexpr int64_t kHeader = 4;  // loss_sum, correct, seen, number of task sums

int64_t task_sum_count(const at::Tensor& packed) {
  const int64_t n = packed.numel() >= kHeader ? static_cast<int64_t>(packed[3].item<double>()) : -1;
  if (n < 0 || kHeader + n > packed.numel())
    throw DataError("a mid-epoch checkpoint's rank state is malformed (" + std::to_string(packed.numel()) + " values)");
  return n;
}
}  // namespace

at::Tensor pack_epoch_state(const EpochTally& tally, const std::vector<at::Tensor>& buffers) {
  std::vector<at::Tensor> parts{at::tensor({tally.loss_sum, static_cast<double>(tally.correct),
                                            static_cast<double>(tally.seen), static_cast<double>(tally.task_sums.size())},
                                           at::kDouble)};
  if (!tally.task_sums.empty()) parts.push_back(at::tensor(tally.task_sums, at::kDouble));
  for (const auto& b : buffers) parts.push_back(b.detach().cpu().to(at::kDouble).flatten());
  return at::cat(parts);
}

EpochTally unpack_epoch_state(const at::Tensor& packed, const std::vector<at::Tensor>& buffers) {
  const int64_t n = task_sum_count(packed);
  const at::Tensor p = packed.contiguous();
  const double* v = p.data_ptr<double>();
  EpochTally t{v[0], static_cast<int64_t>(v[1]), static_cast<int64_t>(v[2]),
               std::vector<double>(v + kHeader, v + kHeader + n)};
  int64_t at = kHeader + n;
  for (const auto& b : buffers) {
    if (at + b.numel() > p.numel())
      throw DataError("a mid-epoch checkpoint's rank state has fewer buffer values than the model has");
    at::NoGradGuard no_grad;
    b.copy_(p.narrow(0, at, b.numel()).view(b.sizes()).to(b.dtype()));
    at += b.numel();
  }
  if (at != p.numel()) throw DataError("a mid-epoch checkpoint's rank state has more buffer values than the model has");
  return t;
}

EpochTally merged_tally(const std::vector<at::Tensor>& packed_per_rank) {
  EpochTally sum;
  for (const auto& packed : packed_per_rank) {
    const int64_t n = task_sum_count(packed);
    const at::Tensor p = packed.contiguous();
    const double* v = p.data_ptr<double>();
    sum.loss_sum += v[0], sum.correct += static_cast<int64_t>(v[1]), sum.seen += static_cast<int64_t>(v[2]);
    sum.task_sums.resize(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < n; ++i) sum.task_sums[static_cast<size_t>(i)] += v[kHeader + i];
  }
  return sum;
}

}  // namespace kiln::runtime
