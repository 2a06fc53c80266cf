#include "cli_launch.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "kiln/common/env.h"
#include "kiln/common/env_knobs.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::launcher::cli {
namespace {

// The comma-separated GPUs of `gpus` ranks, checked against the host's `devices` (-1: not asked, a preview).
std::string gpu_list(const LaunchFlags& launch, int gpus, int devices) {
  if (!launch.gpu_index.empty() && static_cast<int>(launch.gpu_index.size()) < gpus)
    throw UsageError(log::cat("--gpus ", gpus, " needs ", gpus, " entries in --gpu_index, got ",
                              launch.gpu_index.size()));
  std::string list;
  for (int k = 0; k < gpus; ++k) {
    const int gpu = launch.gpu_index.empty() ? k : launch.gpu_index[static_cast<size_t>(k)];
    if (devices >= 0 && gpu >= devices)
      throw UsageError(log::cat("GPU ", gpu, " does not exist: this host has ", devices, " CUDA device(s)"));
    list += (list.empty() ? "" : ",") + std::to_string(gpu);
  }
  return list;
}

// A job that is only shown or written down runs somewhere else (or not at all): this host's devices do not matter.
bool preview_only(const JobLaunch& job) { return job.dry_run || !job.emit_sbatch.empty(); }

std::string overrides_text(const std::vector<std::string>& overrides) {
  std::string out;
  for (const auto& o : overrides) out += " " + o;
  return out;
}

// --dry-run: the spec as the subtask would run it (defaults filled, overrides applied, paths absolute); a valid
// spec file to copy.
void print_resolved_spec(Runtime& runtime, const std::string& network, const runtime::RunOptions& ro) {
  const std::string origin = ro.spec_file.empty() ? "the spec stored in " + ro.model_path : ro.spec_file;
  std::cout << "Resolved spec (" << origin << (ro.overrides.empty() ? "" : " with" + overrides_text(ro.overrides))
            << "):\n"
            << "---\n"
            << runtime.resolved_spec(network, ro) << "---\n";
}

std::string device_text(const runtime::RunOptions& ro, const std::string& gpus) {
  if (!gpus.empty()) return "cuda, device " + gpus + " (--gpus / --gpu_index; not probed by a dry run)";
  if (!ro.device.empty()) return ro.device + " (--device)";
  const std::string env = env_string(knob::kDevice);
  if (env != "auto") return env + std::string(" (") + knob::kDevice.name + ")";
  return "auto: the rank's CUDA device when LibTorch sees one, else the CPU";
}

std::string threads_text(const runtime::RunOptions& ro) {
  if (ro.threads > 0) return std::to_string(ro.threads) + " intra-op threads (--num_threads)";
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string source;
  const int threads = cluster::default_threads(ro.rank, cores, cluster::process_env(), &source);
  return std::to_string(threads) + " intra-op threads (" + source + ")";
}

// --dry-run without a launch option: what this process would do.
void print_local_plan(const runtime::RunOptions& ro, const RankJob& job, const std::string& gpus) {
  std::cout << "Launch plan: no launcher; this process runs the subtask itself\n";
  if (ro.rank.distributed())
    std::cout << "  rank:     " << ro.rank.str() << "\n";
  else
    std::cout << "  ranks:    1 (add --num_processes N, --gpus N or -c FILE for more)\n";
  std::cout << "  device:   " << device_text(ro, gpus) << "\n"
            << "  threads:  " << threads_text(ro) << "\n"
            << "  results:  " << (job.results_dir.empty() ? job.writes : job.results_dir + "/ (" + job.writes + ")")
            << "\n";
}

}  // namespace

std::string apply_gpu_flags(LaunchFlags& launch, runtime::RunOptions& ro, Runtime& runtime) {
  if (launch.gpus == 0 && launch.gpu_index.empty()) {
    if (launch.job.num_processes > 1) launch.job.env[knob::kDevice.name] = "cpu";
    return "";
  }
  const int gpus = launch.gpus > 0 ? launch.gpus : static_cast<int>(launch.gpu_index.size());
  if (launch.job.num_processes > 1)
    throw UsageError("--gpus and --num_processes both set the ranks on this host: use one");
  const int devices = preview_only(launch.job) ? -1 : runtime.cuda_devices();
  if (devices == 0)
    throw UsageError(log::cat("--gpus ", gpus, " needs CUDA devices and this host has none; for CPU ranks use ",
                              "--num_processes ", gpus, " (--dry-run previews a GPU job without them)"));
  const std::string list = gpu_list(launch, gpus, devices);
  if (!ro.device.empty() && ro.device != "cuda")
    throw UsageError("--gpus asks for GPU ranks but --device is " + ro.device);
  ro.device = "cuda";
  launch.gpus = gpus;
  launch.job.gpus = gpus;
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

int launch_or_run(const Invocation& in, runtime::RunOptions& ro, LaunchFlags& launch, const RankJob& job) {
  for (auto& o : overrides_of(in.cmd)) ro.overrides.push_back(std::move(o));  // after the flags' (--use_amp)
  ro.rank = in.runtime.discover_rank();
  const bool is_launcher = !ro.rank.distributed();
  const std::string gpus = is_launcher ? apply_gpu_flags(launch, ro, in.runtime) : "";
  const bool dry_run = launch.job.dry_run;
  if (is_launcher && wants_launch(launch.job)) {
    job.check(in.runtime);
    if (dry_run) print_resolved_spec(in.runtime, job.network, ro);
    launch.job.results_dir = job.results_dir;
    launch.job.threads = ro.threads;
    return launch_ranks(in, launch.job);
  }
  if (dry_run) {  // never runs the subtask: a preview of it
    job.check(in.runtime);
    if (ro.rank.rank == 0) print_resolved_spec(in.runtime, job.network, ro);  // once under someone else's mpirun
    print_local_plan(ro, job, gpus);
    std::cout << "Dry run: nothing was started and nothing was written." << std::endl;
    return 0;
  }
  if (!gpus.empty()) in.runtime.set_rank_env(knob::kGpuIndex.name, gpus);  // --gpus 1: this process is the rank
  job.run(in.runtime);
  return 0;
}

Action rank_task_action(std::shared_ptr<RankTask> task, const std::string& network, const std::string& writes,
                        RankMember check, RankMember run) {
  return [task, network, writes, check, run](const Invocation& in) {
    RankJob job{network, task->run.results_dir, writes, [task, check](Runtime& rt) { (rt.*check)(task->run); },
                [task, run](Runtime& rt) { (rt.*run)(task->run); }};
    return launch_or_run(in, task->run, task->launch, job);
  };
}

}  // namespace kiln::launcher::cli
