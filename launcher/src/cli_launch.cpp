#include "cli_launch.h"

#include "kiln/common/env_knobs.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::launcher::cli {
namespace {

// The comma-separated GPUs of `gpus` ranks, checked against the host's `devices`.
std::string gpu_list(const LaunchFlags& launch, int gpus, int devices) {
  if (!launch.gpu_index.empty() && static_cast<int>(launch.gpu_index.size()) < gpus)
    throw UsageError(log::cat("--gpus ", gpus, " needs ", gpus, " entries in --gpu_index, got ",
                              launch.gpu_index.size()));
  std::string list;
  for (int k = 0; k < gpus; ++k) {
    const int gpu = launch.gpu_index.empty() ? k : launch.gpu_index[static_cast<size_t>(k)];
    if (gpu >= devices)
      throw UsageError(log::cat("GPU ", gpu, " does not exist: this host has ", devices, " CUDA device(s)"));
    list += (list.empty() ? "" : ",") + std::to_string(gpu);
  }
  return list;
}

}  // namespace

std::string apply_gpu_flags(LaunchFlags& launch, runtime::RunOptions& ro, Runtime& runtime) {
  if (launch.gpus == 0 && launch.gpu_index.empty()) {
    if (launch.job.num_processes > 1) launch.job.env[knob::kDevice.name] = "cpu";
    return "";
  }
  const int gpus = launch.gpus > 0 ? launch.gpus : static_cast<int>(launch.gpu_index.size());
  const int devices = runtime.cuda_devices();
  if (devices == 0)
    throw UsageError(log::cat("--gpus ", gpus, " needs CUDA devices and this host has none; for CPU ranks use ",
                              "--num_processes ", gpus));
  if (launch.job.num_processes > 1)
    throw UsageError("--gpus and --num_processes both set the ranks on this host: use one");
  const std::string list = gpu_list(launch, gpus, devices);
  if (!ro.device.empty() && ro.device != "cuda")
    throw UsageError("--gpus asks for GPU ranks but --device is " + ro.device);
  ro.device = "cuda";
  launch.gpus = gpus;
  launch.job.num_processes = gpus;
  launch.job.env[knob::kDevice.name] = "cuda";
  launch.job.env[knob::kGpuIndex.name] = list;
  return list;
}

int launch_ranks(const Invocation& in, JobLaunch job) {
  job.worker_args = without_launch_options(in.args);
  const int code = in.runtime.launch(job);
  if (code != 0) log::error("the job failed (exit code " + std::to_string(code) + ")");
  return code;
}

int launch_or_run(const Invocation& in, runtime::RunOptions& ro, LaunchFlags& launch, const std::string& results_dir,
                  const RankStep& check, const RankStep& run) {
  ro.overrides = overrides_of(in.cmd);
  ro.rank = in.runtime.discover_rank();
  const bool is_launcher = !ro.rank.distributed();
  const std::string gpus = is_launcher ? apply_gpu_flags(launch, ro, in.runtime) : "";
  if (is_launcher && wants_launch(launch.job)) {
    check(in.runtime);
    launch.job.results_dir = results_dir;
    return launch_ranks(in, launch.job);
  }
  if (!gpus.empty()) in.runtime.set_rank_env(knob::kGpuIndex.name, gpus);  // --gpus 1: this process is the rank
  run(in.runtime);
  return 0;
}

Action rank_task_action(std::shared_ptr<RankTask> task, RankMember check, RankMember run) {
  return [task, check, run](const Invocation& in) {
    return launch_or_run(
        in, task->run, task->launch, task->run.results_dir, [task, check](Runtime& rt) { (rt.*check)(task->run); },
        [task, run](Runtime& rt) { (rt.*run)(task->run); });
  };
}

}  // namespace kiln::launcher::cli
