#include "kiln/runtime/device.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/cuda.h>

#include <algorithm>
#include <thread>

#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/runtime/convolution_check.h"
#include "kiln/runtime/tasks.h"

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

int configure_threads(int requested, const cluster::RankInfo& rank) {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = requested > 0 ? requested : cluster::default_threads(rank, hw, cluster::process_env());
  at::set_num_threads(threads);  // LibTorch's pool, and OpenMP's under Debian's OpenMP build
  // OpenBLAS keeps its own pool, sized from OPENBLAS_NUM_THREADS or all cores when it loads. kiln's local launcher
  // sets the variable, but srun, a bare mpirun or torchrun do not: resize it here so every launch path gets the
  // same per-rank share. Looked up at run time, as the BLAS behind LibTorch may not be OpenBLAS.
  using SetThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas(threads);
  guard_cpu_convolutions();  // with the threads training will use
  return threads;
}

}  // namespace kiln::runtime
