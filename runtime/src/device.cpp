#include "kiln/runtime/device.h"

#include <torch/cuda.h>

#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::runtime {

c10::Device select_device(const std::string& preference, const cluster::RankInfo& rank) {
  const std::string pref = preference.empty() ? env_string(knob::kDevice) : preference;
  if (pref != "auto" && pref != "cpu" && pref != "cuda")
    throw UsageError("device '" + pref + "' is not one of auto, cpu, cuda");
  if (pref == "cpu") return c10::Device(c10::kCPU);
  const auto devices = static_cast<int>(torch::cuda::device_count());
  if (devices == 0) {
    if (pref == "auto") return c10::Device(c10::kCPU);
    throw UsageError(log::cat(rank.str(), ": --device cuda (or --gpus) needs a CUDA device, and LibTorch here sees "
                              "none (CPU-only LibTorch, or no driver): use --device cpu or --num_processes"));
  }
  const int gpu = cluster::gpu_for_rank(rank, cluster::process_env());
  if (gpu >= devices)
    throw UsageError(log::cat(rank.str(), " maps to cuda:", gpu, " but this host has ", devices, " CUDA device(s)"));
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(gpu));
}

}  // namespace kiln::runtime
