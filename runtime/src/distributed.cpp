#include "kiln/runtime/distributed.h"

#include <ATen/ATen.h>

#include <cstring>
#include <sstream>

#include "kiln/cluster/store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::runtime {

namespace {

// Rank 0's view of where its control-plane server listens, sent to the other ranks over MPI as one fixed-size
// buffer "host port token".
constexpr int64_t kAnnounceBytes = 512;

}  // namespace

Distributed::Distributed(const cluster::RankInfo& rank) : rank_(rank) {
  if (!rank_.distributed()) return;
  mpi_ = std::make_unique<collectives::MpiSession>();
  comm_ = collectives::make_mpi_communicator();
  if (comm_->size() != rank_.world_size || comm_->rank() != rank_.rank)
    throw UsageError(log::cat("this process is ", rank_.str(), " but its MPI world says rank ", comm_->rank(), "/",
                              comm_->size(), ": CPU ranks must be started by mpirun, srun --mpi=pmix, or "
                              "kiln --num_processes N"));

  cluster::StoreClientOptions conn;
  conn.rank = rank_.rank;
  conn.host = env_string("KILN_MASTER_ADDR");
  conn.port = static_cast<uint16_t>(env_long("KILN_MASTER_PORT", 0));
  conn.token = env_string(cluster::kEnvJobToken);
  if (conn.token.empty() || conn.port == 0) {
    // No kiln launcher: rank 0 hosts the control plane and tells the others where it is.
    at::Tensor announce = at::zeros({kAnnounceBytes / 8}, at::kLong);  // bytes in int64 words: every backend has int64
    if (is_root()) {
      server_ = std::make_unique<cluster::ControlPlaneServer>(
          cluster::StoreServerOptions::from_env(cluster::make_job_token()), cluster::ControlPlaneOptions::from_env());
      const std::string text = host_name() + " " + std::to_string(server_->port()) + " " + server_->token();
      std::memcpy(announce.data_ptr(), text.data(), std::min<size_t>(text.size(), kAnnounceBytes - 1));
    }
    collectives::wait_ok(comm_->broadcast(announce, 0));
    std::istringstream is(std::string(static_cast<const char*>(announce.data_ptr())));
    int port = 0;
    is >> conn.host >> port >> conn.token;
    conn.port = static_cast<uint16_t>(port);
  }
  monitor_ = std::make_unique<cluster::ControlPlaneClient>(conn, cluster::ControlPlaneOptions::from_env());
  // On the monitor's thread: fail every pending and future collective, so the main thread stops waiting.
  monitor_->on_abort([comm = comm_.get()](const std::string& reason) { comm->abort(reason); });
}

Distributed::~Distributed() {
  if (!monitor_) return;
  // A clean exit says goodbye; then all ranks meet once more so rank 0 does not take its control-plane server down
  // while another rank is still saying goodbye. After an abort there is nobody to wait for.
  const bool clean = std::uncaught_exceptions() == 0 && !monitor_->aborted();
  monitor_->close();
  if (clean) {
    try {
      collectives::wait_ok(comm_->barrier(), std::chrono::seconds(60));
    } catch (const std::exception& e) {
      log::warn(std::string("final barrier: ") + e.what());
    }
  }
}

void Distributed::set_step(int64_t step) {
  if (monitor_) monitor_->set_step(step);
}

void Distributed::check() {
  if (monitor_ && monitor_->aborted())
    throw Error("job aborted: " + monitor_->abort_reason(), ExitCode::kRankFailed);
}

void Distributed::abort_job(const std::string& reason) {
  if (!monitor_) return;
  if (!monitor_->aborted()) monitor_->abort(reason);
  comm_->abort(reason);
}

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
