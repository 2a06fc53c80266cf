// The commands that start a job's ranks on a cluster: mpirun, srun, and a Slurm batch script. Pure functions of a
// ClusterConfig and the launch options, so `--dry-run` prints exactly what a launch would run; docs/cluster.md
// shows examples.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/cluster/cluster_config.h"

namespace kiln::cluster {

struct Command {
  std::vector<std::string> argv;  // what to exec
  std::string str() const;        // argv as one shell-quoted line (for --dry-run); `sh -c` runs it unchanged
};

// A word for a POSIX shell: unchanged when it has only safe characters, else in single quotes (' as '\'').
std::string shell_quote(const std::string& word);
std::string shell_join(const std::vector<std::string>& words);

struct LaunchOptions {
  std::vector<std::string> program;        // what every rank runs: the kiln binary (absolute) and its arguments
  std::map<std::string, std::string> env;  // kiln's own variables with their values (e.g. KILN_MASTER_ADDR);
                                           // the cluster's `env` wins for a name in both
  std::vector<std::string> forward_env;    // passed by name only, the value taken from the environment mpirun/srun
                                           // runs in (e.g. KILN_JOB_TOKEN: a secret stays off command lines)
  bool oversubscribe = false;              // mpirun --oversubscribe: more ranks than cores
  std::optional<bool> as_root;             // mpirun --allow-run-as-root; unset: whether this process runs as root
  std::string hostfile;                    // mpirun --hostfile PATH (write hostfile_text() there) instead of --host
  bool in_allocation = false;              // srun inside an allocation (sbatch/salloc): no partition/time/account
  std::string log_dir;                     // sbatch: --output=<log_dir>/slurm-%j.out ("" = where sbatch is run)
  std::string workdir;                     // sbatch: --chdir=<workdir> ("" = where sbatch is run)
  int cpus_per_task = 0;                   // sbatch: --cpus-per-task=N (0 = none: Slurm's default, or sbatch's -c)
  std::string mpirun = "mpirun";           // the programs, should they need a path
  std::string srun = "srun";
};

// mpirun -np N --host h1:4,h2:4 --bind-to core --map-by slot [--mca btl_tcp_if_include IF -x NCCL_SOCKET_IFNAME=IF]
//   -x NAME=VALUE... -x NAME... [--allow-run-as-root] [--oversubscribe] <mpirun_args> <program>.
// --bind-to/--map-by (or an older mapping option) in mpirun_args replace kiln's defaults. When a node lists GPUs
// other than 0..slots-1, -x KILN_RANK_GPUS gives the device of every rank, in rank order (it overrides local rank →
// device). Throws kiln::UsageError when there are no nodes, or when a mapping option in mpirun_args would move ranks
// off the GPUs nodes list.
Command mpirun_command(const ClusterConfig& config, const LaunchOptions& options);

// [env NAME=V,... ] srun [--job-name --partition --time --account] --nodes=N --ntasks=T --ntasks-per-node=P
//   [--nodelist=h1,h2] [--gpus-per-node=G] --mpi=pmix --kill-on-bad-exit=1 --export=ALL,NAME=VALUE,...,NAME
//   <program>. srun cannot carry a value with a comma in --export, so such variables go in front through `env`.
// --mpi=pmix: Debian's Open MPI has no Slurm PMI plugin, so srun must start MPI ranks through PMIx (docs/slurm.md).
// Throws kiln::UsageError when the nodes cannot be one Slurm job step (unequal slots, or a count that contradicts
// `slurm`).
Command srun_command(const ClusterConfig& config, const LaunchOptions& options);

// A batch script for `sbatch FILE`: #SBATCH job name, nodes, tasks per node, node list (only when nodes are listed),
// GPUs, CPUs per task, partition, time, account, output and the extra `slurm.sbatch` options; `export` lines for the
// environment; the threads of each rank (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS), read where the job runs from the
// CPUs Slurm gives each task (SLURM_CPUS_PER_TASK, default 1) unless the environment sets them; then the srun line
// (in the allocation). Forwarded names must be set where sbatch runs: the script checks them.
std::string sbatch_script(const ClusterConfig& config, const LaunchOptions& options);

// An Open MPI hostfile for the nodes: "host slots=N" per line.
std::string hostfile_text(const ClusterConfig& config);

}  // namespace kiln::cluster
