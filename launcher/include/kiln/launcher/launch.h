// Starting ranks from the launcher process (docs/architecture.md, "How a job runs"): `--num_processes N` on this
// host, or a cluster description (`-c cluster.yaml` / an Open MPI hostfile) with `--launcher mpirun|slurm`. The same
// kiln command, minus the launch options, becomes every rank's command. CPU ranks need an MPI world, so a local job
// is mpirun on localhost; the job is supervised (supervisor.h) and its exit code returned.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kiln/cluster/cluster_config.h"
#include "kiln/cluster/commands.h"

namespace kiln::launcher {

struct JobLaunch {
  std::string cluster_file;              // -c: cluster YAML or hostfile ("" = this host only)
  std::string launcher;                  // --launcher local|mpirun|slurm ("" = the cluster file's, else local)
  std::string include, exclude;          // --include / --exclude host filters
  int num_processes = 1;                 // --num_processes (or --gpus), for a job on this host
  int gpus = 0;                          // --gpus: the ranks are GPU ranks (a batch script asks Slurm for them)
  int threads = 0;                       // --num_threads (0: not given): a batch script asks Slurm for these CPUs
  int max_restarts = 0;                  // --max_restarts: relaunch after a rank failure, resuming (torchrun's name)
  std::string nnodes;                    // --nnodes MIN:MAX: hosts may be left out of a relaunch down to MIN
  bool dry_run = false;                  // --dry-run: print the command (or batch script), run and write nothing
  std::string emit_sbatch;               // --emit-sbatch FILE: write a batch script, run nothing
  std::vector<std::string> worker_args;  // kiln's arguments for every rank
  std::string results_dir;               // logs go to <results_dir>/logs/rank_K.log
  std::map<std::string, std::string> env;  // set for every rank, e.g. KILN_DEVICE=cuda and KILN_GPU_INDEX for --gpus
};

// True when the command line asks the launcher to start ranks (and this process is not a rank already).
bool wants_launch(const JobLaunch& job);

// The cluster a job runs on: the cluster file (filtered); without one `localhost` with num_processes slots, or for
// --launcher slurm and --emit-sbatch one Slurm node (of the allocation's choosing) with num_processes tasks.
cluster::ClusterConfig job_cluster(const JobLaunch& job);

// The launch options for every rank: kiln's own executable and arguments, threads per rank on this host, and —
// when this launcher hosts the control plane — where the ranks find it (the token is forwarded by name only).
cluster::LaunchOptions job_options(const JobLaunch& job, const cluster::ClusterConfig& config,
                                   const std::string& kiln_exe, int cores, bool launcher_control_plane);

int launch_job(const JobLaunch& job);

// argv without `--name VALUE` / `--name=VALUE` (or the bare flag when takes_value is false).
std::vector<std::string> strip_option(const std::vector<std::string>& argv, const std::string& name, bool takes_value);

}  // namespace kiln::launcher
