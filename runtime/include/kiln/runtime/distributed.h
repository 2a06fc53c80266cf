// The data-parallel context of one rank: its place in the world and the communicator it reduces with. A single
// process gets a context with no communicator, and every helper below is then a no-op, so the trainer reads the
// same for 1 and N ranks.
#pragma once
#include <ATen/Tensor.h>

#include <memory>
#include <vector>

#include "kiln/cluster/rank_env.h"
#include "kiln/collectives/backends.h"
#include "kiln/collectives/communicator.h"

namespace kiln::runtime {

class Distributed {
 public:
  // world_size 1 → no communicator. Otherwise the MPI backend (CPU): the ranks must form an MPI world
  // (mpirun, srun --mpi=pmix, or kiln's launcher which starts them through mpirun).
  explicit Distributed(const cluster::RankInfo& rank);
  ~Distributed();

  const cluster::RankInfo& rank_info() const { return rank_; }
  int rank() const { return rank_.rank; }
  int world_size() const { return rank_.world_size; }
  bool is_root() const { return rank_.rank == 0; }
  collectives::Communicator* comm() { return comm_.get(); }

  // Sums doubles/int64 counters over ranks in place (no-op on one rank).
  void sum(at::Tensor& t);
  // Averages floating-point tensors over ranks in place, e.g. batch-norm running statistics.
  void average(const std::vector<at::Tensor>& tensors);
  void barrier();

 private:
  cluster::RankInfo rank_;
  std::unique_ptr<collectives::MpiSession> mpi_;
  std::unique_ptr<collectives::Communicator> comm_;
};

}  // namespace kiln::runtime
