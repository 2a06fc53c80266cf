// Where a rank computes (docs/cli.md: --device, --gpus, --gpu_index): a GPU rank takes the CUDA device its local rank
// maps to (KILN_RANK_GPUS / KILN_GPU_INDEX / local rank, see cluster::gpu_for_rank); a CPU rank the CPU.
#pragma once
#include <c10/core/Device.h>

#include <string>

#include "kiln/cluster/rank_env.h"

namespace kiln::runtime {

// `preference`: "cpu", "cuda", or "auto" (CUDA when LibTorch sees a device, else CPU); empty means KILN_DEVICE from
// the environment (the kiln launcher sets it: --gpus → cuda, --num_processes → cpu), else "auto".
// Throws kiln::UsageError for "cuda" without a usable device, or a GPU index beyond the devices present.
c10::Device select_device(const std::string& preference, const cluster::RankInfo& rank);

}  // namespace kiln::runtime
