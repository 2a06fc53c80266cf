// Internal to kiln_launcher: how a subtask that runs on ranks starts. Given a launch option, this process is the
// launcher: it checks what it can, then starts a job whose ranks run the same command minus the launch options.
// Otherwise (a single process, or a rank of a launched job) it runs the subtask itself. With --dry-run nothing
// runs: the spec is checked and printed resolved, with the launch plan.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "cli_options.h"
#include "cli_table.h"
#include "kiln/runtime/tasks.h"

namespace kiln::launcher::cli {

// The options of a subtask that runs on ranks (train, evaluate): the rank's and the launch's.
struct RankTask {
  runtime::RunOptions run;
  LaunchFlags launch;
};

// --gpus N / --gpu_index: N GPU ranks on this host, local rank k on device gpu_index[k] (default k); ranks started
// by --num_processes are CPU ranks. Sets the job's ranks and their KILN_DEVICE / KILN_GPU_INDEX, and ro.device.
// Returns the GPU list of the ranks ("" without --gpus / --gpu_index): with one GPU this process is the rank.
// Throws UsageError for a host without CUDA, a GPU that does not exist, or flags that contradict each other. A job
// that is only previewed or written down (--dry-run, --emit-sbatch) does not ask this host for its devices: a
// login node without a GPU can show or script a GPU job.
std::string apply_gpu_flags(LaunchFlags& launch, runtime::RunOptions& ro, Runtime& runtime);

// Starts `job` with the invocation's arguments minus the launch options as every rank's; returns its exit code.
int launch_ranks(const Invocation& in, JobLaunch job);

using RankStep = std::function<void(Runtime&)>;

// A subtask that runs on ranks, as launch_or_run needs it.
struct RankJob {
  std::string network;      // "classification" | "detectnet_v2": whose spec --dry-run prints
  std::string results_dir;  // where the ranks' logs go (<results_dir>/logs) and, for --dry-run, the results
  std::string writes;       // --dry-run: what a run would write there, e.g. "model.kiln, checkpoints/, status.json"
  RankStep check;           // fails with exit 2/3 before any rank starts
  RankStep run;             // the subtask on this process's rank
};

// Adds the command line's key=value overrides to ro's (after those flags put there, e.g. --use_amp's) and fills its
// rank, then either launches (after `check`), previews (--dry-run: `check`, the resolved spec, the launch plan) or
// runs `run` in this process. Returns the exit code.
int launch_or_run(const Invocation& in, runtime::RunOptions& ro, LaunchFlags& launch, const RankJob& job);

// The action of a train or evaluate subtask: launch_or_run with the Runtime's `check` (the spec, exit 2 before any
// rank starts) and `run` of its RunOptions; the ranks' logs go under its results directory.
using RankMember = void (Runtime::*)(const runtime::RunOptions&);
Action rank_task_action(std::shared_ptr<RankTask> task, const std::string& network, const std::string& writes,
                        RankMember check, RankMember run);

}  // namespace kiln::launcher::cli
