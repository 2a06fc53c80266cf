// Rank discovery from the environment (docs/architecture.md, "How a job runs"). First match wins: kiln's own
// variables, Open MPI, PMIx/PMI, Slurm, then the torchrun contract. A process with no rank in its environment is a
// launcher (or a single-process run).
#pragma once
#include <functional>
#include <optional>
#include <string>

namespace kiln::cluster {

struct RankInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
  std::string source = "single";  // which contract supplied it: kiln, openmpi, pmix, pmi, slurm, torchrun, single
  std::string master_addr;        // torchrun / kiln: where the rendezvous store listens
  int master_port = 0;
  bool distributed() const { return world_size > 1; }
  std::string str() const;  // "rank 1/4 (local 1/2, node 0) from openmpi"
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();  // getenv

// Reads the process environment. Throws kiln::UsageError when a contract is present but inconsistent
// (e.g. RANK without WORLD_SIZE, rank >= world size, non-integer values), naming the variables.
RankInfo discover_rank();
RankInfo discover_rank(const EnvLookup& env);  // for tests

// The CUDA device of a GPU rank: KILN_RANK_GPUS (comma list by global rank, written by the cluster launcher when
// nodes list their GPUs), else KILN_GPU_INDEX (comma list by local rank: `--gpu_index 2 3`), else the local rank.
// Throws kiln::UsageError when a list is too short or not integers, naming the variable.
int gpu_for_rank(const RankInfo& info, const EnvLookup& env);

// Intra-op threads for this rank: the host's cores shared evenly among its local ranks (at least 1).
int threads_per_rank(const RankInfo& info, int hardware_threads);

// A rank's threads when --num_threads is not given: OMP_NUM_THREADS when it is a whole number >= 1 (kiln's local
// launcher sets it to threads_per_rank, a kiln batch script to the task's CPUs, torchrun to 1; PyTorch reads it
// too), else SLURM_CPUS_PER_TASK (srun -c / sbatch --cpus-per-task: the CPUs Slurm gave the task), else
// threads_per_rank(). `source` (may be null) gets where the number came from, for messages.
int default_threads(const RankInfo& info, int hardware_threads, const EnvLookup& env, std::string* source = nullptr);

}  // namespace kiln::cluster
