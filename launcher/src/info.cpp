#include "kiln/launcher/info.h"

#include <ATen/Parallel.h>
#include <torch/version.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <thread>

#include "kiln/collectives/backends.h"
#include "kiln/common/env_knobs.h"
#include "kiln/export/onnxruntime.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/tasks.h"

#ifdef KILN_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace kiln::launcher {
namespace {

std::string cuda_and_nccl(int* devices) {
  *devices = 0;
#ifdef KILN_HAVE_NCCL
  std::ostringstream os;
  int nccl = 0, runtime = 0;
  ncclGetVersion(&nccl);
  cudaRuntimeGetVersion(&runtime);
  const cudaError_t err = cudaGetDeviceCount(devices);
  if (err != cudaSuccess) *devices = 0;
  os << "CUDA runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", NCCL " << nccl / 10000 << "."
     << (nccl / 100) % 100 << "." << nccl % 100;
  if (err != cudaSuccess) os << " (no usable CUDA device: " << cudaGetErrorString(err) << ")";
  return os.str();
#else
  return "not built (CUDA/NCCL not found at build time)";
#endif
}

// The KILN_ variables set here (docs/cli.md lists them all); the job token's value is masked.
std::string knobs_text() {
  const auto knobs = knobs_in_effect();
  if (knobs.empty()) return "Environment: no KILN_ variable set (docs/cli.md lists them)\n";
  std::ostringstream os;
  os << "Environment (KILN_ variables set):\n";
  for (const auto& [name, value] : knobs) os << "  " << name << "=" << value << "\n";
  return os.str();
}

// onnxruntime (through Node.js) as exports will find it, and where from.
std::string onnx_check_text() {
  try {
    return "onnxruntime " + runtime::onnxruntime_version() + " from " + runtime::onnxruntime_dir();
  } catch (const std::exception& e) {
    return e.what();  // "onnxruntime is not available: <why>"
  }
}

}  // namespace

int cuda_device_count() {
  int devices = 0;
  cuda_and_nccl(&devices);
  return devices;
}

std::string info_text(bool verbose) {
  std::ostringstream os;
  int gpus = 0;
  const std::string cuda = cuda_and_nccl(&gpus);
  os << "kiln " << KILN_VERSION << "\n";
  os << "  LibTorch   " << TORCH_VERSION << "\n";
  os << "  MPI        " << collectives::mpi_library_version() << "\n";
  os << "  CUDA/NCCL  " << cuda << "\n";
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  os << "  devices    cpu (" << hw << " hardware threads)";
  for (int i = 0; i < gpus; ++i) os << ", cuda:" << i;
  os << "\n";
  os << "  networks   classification (arch: ";
  const auto names = networks::network_names();
  bool first = true;
  for (const auto& name : names) {
    if (name == "detectnet_v2") continue;  // a network of its own on the command line
    os << (first ? "" : ", ") << name;
    first = false;
  }
  os << "), detectnet_v2 (ResNet backbone)\n";
  os << "  subtasks   classification: dataset_convert, train, evaluate, prune, export, inference; detectnet_v2: "
        "dataset_convert, train, evaluate, inference, prune, export; dataset: synth_kitti; cluster: check\n";
  if (verbose) {
    runtime::configure_threads(0, {});
    os << "\nThreads: intra-op " << at::get_num_threads() << " (set by kiln: cores / local ranks), inter-op "
       << at::get_num_interop_threads() << "\n";
    os << at::get_parallel_info();
    os << "Build: C++" << __cplusplus / 100 % 100 << ", GCC " << __GNUC__ << "." << __GNUC_MINOR__ << ", yaml-cpp, "
       << "Boost.Asio, CLI11, nlohmann-json, PLplot, stb_image, zlib\n";
    os << "ONNX check: " << onnx_check_text() << "\n";
    os << knobs_text();
  }
  return os.str();
}

}  // namespace kiln::launcher
