// A rank's running state inside an epoch, as a mid-epoch checkpoint keeps it (checkpoint.h EpochPosition): what it
// has summed for the epoch's metrics, the task's own epoch sums (DetectNet_v2's autoweighting) and its batch-norm
// buffers, which the ranks average only at the epoch's end. Packed into one double tensor per rank — float32 and
// int64 buffers round-trip through double exactly — so the ranks exchange it in one all-gather.
#pragma once
#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

namespace kiln::runtime {

struct EpochTally {
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  std::vector<double> task_sums;
};

// [loss_sum, correct, seen, task sums count, task sums..., every buffer's values...]
at::Tensor pack_epoch_state(const EpochTally& tally, const std::vector<at::Tensor>& buffers);
// The tally in `packed`; copies the buffers' values back into `buffers` (same shapes as when packed).
EpochTally unpack_epoch_state(const at::Tensor& packed, const std::vector<at::Tensor>& buffers);
// The tally of every rank of a world of another size, summed (its buffers are not used): what rank 0 resumes with
// when the world changed inside an epoch.
EpochTally merged_tally(const std::vector<at::Tensor>& packed_per_rank);

}  // namespace kiln::runtime
