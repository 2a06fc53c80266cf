#include "kiln/runtime/distributed.h"

#include <ATen/ATen.h>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::runtime {

Distributed::Distributed(const cluster::RankInfo& rank) : rank_(rank) {
  if (!rank_.distributed()) return;
  mpi_ = std::make_unique<collectives::MpiSession>();
  comm_ = collectives::make_mpi_communicator();
  if (comm_->size() != rank_.world_size || comm_->rank() != rank_.rank)
    throw UsageError(log::cat("this process is ", rank_.str(), " but its MPI world says rank ", comm_->rank(), "/",
                              comm_->size(), ": CPU ranks must be started by mpirun, srun --mpi=pmix, or "
                              "kiln --num_processes N"));
}

Distributed::~Distributed() = default;

void Distributed::sum(at::Tensor& t) {
  if (comm_) collectives::wait_ok(comm_->allreduce(t, collectives::ReduceOp::kSum));
}

void Distributed::average(const std::vector<at::Tensor>& tensors) {
  if (!comm_) return;
  for (const auto& t : tensors) {
    if (!t.is_floating_point()) continue;
    at::Tensor buf = t.detach().contiguous();
    collectives::wait_ok(comm_->allreduce(buf, collectives::ReduceOp::kAvg));
    if (!buf.is_same(t)) t.detach().copy_(buf);
  }
}

void Distributed::barrier() {
  if (comm_) collectives::wait_ok(comm_->barrier());
}

}  // namespace kiln::runtime
