#include "kiln/common/env_knobs.h"
#include "kiln/runtime/distributed.h"

#include "kiln/common/signals.h"

#include <ATen/ATen.h>

#include <cstring>
#include <sstream>
#include <thread>

#include "cpu_backend.h"
#include "kiln/cluster/prefix_store.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "torchrun_store.h"

namespace kiln::runtime {

namespace {

// Rank 0's view of where its control-plane server listens, "host port token", sent to the other ranks over MPI as
// one fixed-size buffer (or through torchrun's store).
constexpr int64_t kAnnounceBytes = 512;
// How long the ranks wait for torchrun's store and for rank 0's announcement in it.
constexpr std::chrono::minutes kTorchrunStoreTimeout{5};
// How long a rank whose collective failed waits for the control plane's ABORT that explains it. A dead peer's
// connection to the control plane closes when its sockets to the other ranks do, so the ABORT follows within
// milliseconds; a failure the control plane never hears of costs this much before the rank exits.
constexpr std::chrono::seconds kAbortGrace{2};

// A side connection to the control-plane store at `conn`: the rank's own control-plane client is the one watched
// for liveness, so this one is not counted as a rank.
cluster::StoreClientOptions side_connection(cluster::StoreClientOptions conn) {
  conn.rank = -1;
  return conn;
}

}  // namespace

std::string share_nccl_unique_id(cluster::Store& store, int rank, const std::function<std::string()>& make_id,
                                 std::chrono::milliseconds timeout) {
  constexpr const char* kKey = "kiln/nccl_unique_id";
  if (rank == 0) {
    const std::string id = make_id ? make_id() : collectives::nccl_make_unique_id();
    store.set(kKey, id);
    return id;
  }
  return store.get(kKey, timeout);
}

std::string share_nccl_unique_id(cluster::StoreClientOptions conn, int rank,
                                 const std::function<std::string()>& make_id, std::chrono::milliseconds timeout) {
  cluster::StoreClient store(side_connection(conn));
  return share_nccl_unique_id(store, rank, make_id, timeout);
}

namespace {

// The launcher's control plane, when it started this rank. Not cluster::StoreClientOptions::from_env(rank): that
// takes host and port from the RankInfo, which carries them only under the KILN_RANK and torchrun contracts, whereas
// the launcher starts ranks through mpirun/srun (rank from OMPI_*/PMIX_*/SLURM_*, no address), and torchrun's
// MASTER_PORT is torch's TCPStore, not a kiln server; and from_env throws where the caller falls back to a control
// plane hosted by rank 0 (no port or no token: a bare mpirun, an sbatch script, torchrun).
cluster::StoreClientOptions launcher_plane(const cluster::RankInfo& rank) {
  cluster::StoreClientOptions conn;
  conn.rank = rank.rank;
  conn.host = env_string(knob::kMasterAddr);
  conn.port = static_cast<uint16_t>(env_long(knob::kMasterPort));
  conn.token = env_string(cluster::kEnvJobToken);
  return conn;
}

std::unique_ptr<collectives::Communicator> join_mpi_world(const cluster::RankInfo& rank) {
  auto comm = collectives::make_mpi_communicator();
  if (comm->size() != rank.world_size || comm->rank() != rank.rank)
    throw UsageError(log::cat("this process is ", rank.str(), " but its MPI world says rank ", comm->rank(), "/",
                              comm->size(), ": ranks must be started by mpirun, srun --mpi=pmix, torchrun, or "
                              "kiln --num_processes N / --gpus N"));
  return comm;
}

// Rank 0's `mine` on every rank, as one fixed-size buffer over MPI.
std::string share_over_mpi(collectives::Communicator& comm, const std::string& mine) {
  at::Tensor buffer = at::zeros({kAnnounceBytes / 8}, at::kLong);  // bytes in int64 words: every backend has int64
  std::memcpy(buffer.data_ptr(), mine.data(), std::min<size_t>(mine.size(), kAnnounceBytes - 1));
  collectives::wait_ok(comm.broadcast(buffer, 0));
  return std::string(static_cast<const char*>(buffer.data_ptr()));
}

// The Gloo communicator of CPU ranks, rendezvousing through the control-plane store on a side connection.
std::unique_ptr<collectives::Communicator> join_gloo_world(const cluster::RankInfo& rank,
                                                           const cluster::StoreClientOptions& conn) {
  cluster::StoreClient client(side_connection(conn));
  cluster::PrefixStore store("kiln/gloo/cpu/", client);
  return collectives::make_gloo_communicator(store, rank.rank, rank.world_size, gloo_options(rank));
}

}  // namespace

Distributed::Distributed(const cluster::RankInfo& rank, c10::Device device) : rank_(rank), device_(device) {
  if (!rank_.distributed()) return;
  const bool gpu = device_.is_cuda();
  const bool gloo = cpu_backend_is_gloo(rank_);
  cluster::StoreClientOptions conn = launcher_plane(rank_);
  const bool have_plane = !conn.token.empty() && conn.port != 0;

  std::unique_ptr<collectives::Communicator> mpi_comm;
  if (!gloo && (!gpu || !have_plane)) {
    mpi_ = std::make_unique<collectives::MpiSession>();
    mpi_comm = join_mpi_world(rank_);
  }
  if (!have_plane) {
    // No kiln launcher: rank 0 hosts the control plane and tells the others where it is, over MPI or, without an
    // MPI world, through torchrun's store.
    std::string mine;
    if (is_root()) {
      server_ = std::make_unique<cluster::ControlPlaneServer>(
          cluster::StoreServerOptions::from_env(cluster::make_job_token()), cluster::ControlPlaneOptions::from_env());
      mine = host_name() + " " + std::to_string(server_->port()) + " " + server_->token();
    }
    std::string announce;
    if (mpi_comm) {
      announce = share_over_mpi(*mpi_comm, mine);
    } else {
      torchrun_store_ = std::make_unique<TorchrunStore>(rank_, kTorchrunStoreTimeout);
      announce = torchrun_store_->share_from_root("kiln/control_plane", mine);
    }
    std::istringstream is(announce);
    int port = 0;
    is >> conn.host >> port >> conn.token;
    conn.port = static_cast<uint16_t>(port);
  }
  monitor_ = std::make_unique<cluster::ControlPlaneClient>(conn, cluster::ControlPlaneOptions::from_env());
  if (gpu) {
    comm_ = collectives::make_nccl_communicator(rank_.rank, rank_.world_size, device_.index(),
                                                share_nccl_unique_id(conn, rank_.rank));
    host_comm_ = std::move(mpi_comm);
  } else {
    comm_ = gloo ? join_gloo_world(rank_, conn) : std::move(mpi_comm);
  }
  abort_collectives_on_abort();
}

Distributed::Distributed(const cluster::RankInfo& rank, std::unique_ptr<collectives::Communicator> comm,
                         std::unique_ptr<cluster::RankMonitor> monitor, c10::Device device)
    : rank_(rank), device_(device), comm_(std::move(comm)), monitor_(std::move(monitor)) {
  if (comm_ && (comm_->size() != rank_.world_size || comm_->rank() != rank_.rank))
    throw UsageError(log::cat("this process is ", rank_.str(), " but its communicator says rank ", comm_->rank(), "/",
                              comm_->size()));
  abort_collectives_on_abort();
}

void Distributed::abort_collectives_on_abort() {
  if (!monitor_) return;
  // On the thread that delivers the ABORT (the monitor's): fail every pending and future collective, so the main
  // thread stops waiting.
  monitor_->on_abort([this](const std::string& reason) {
    if (comm_) comm_->abort(reason);
    if (host_comm_) host_comm_->abort(reason);
  });
  // The launcher's STOP is this rank's signal: the training loop agrees on a step with the others and stops there.
  monitor_->on_stop([](int signo) { request_stop(signo); });
}

Distributed::~Distributed() {
  if (!monitor_) return;
  // A clean exit says goodbye; then all ranks meet once more so rank 0 does not take its control-plane server down
  // while another rank is still saying goodbye. After an abort there is nobody to wait for.
  const bool clean = std::uncaught_exceptions() == 0 && !monitor_->aborted();
  monitor_->close();
  if (clean && comm_) {
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

std::optional<Error> Distributed::abort_error() const {
  if (!monitor_ || !monitor_->aborted()) return std::nullopt;
  return Error("job aborted: " + monitor_->abort_reason(), ExitCode::kRankFailed);
}

void Distributed::check() {
  if (auto aborted = abort_error()) throw *aborted;
}

std::optional<Error> Distributed::explained_by_abort(const std::exception& failure) const {
  if (!monitor_ || !dynamic_cast<const collectives::CollectiveError*>(&failure)) return std::nullopt;
  const auto until = std::chrono::steady_clock::now() + kAbortGrace;
  while (!monitor_->aborted() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return abort_error();
}

void Distributed::abort_job(const std::string& reason, ExitCode cause) {
  if (!monitor_) return;
  // A data or spec error keeps its exit code through the launcher; anything else is "a rank failed".
  const bool kept = cause == ExitCode::kData || cause == ExitCode::kUsage;
  if (!monitor_->aborted()) monitor_->abort_with_cause(reason, kept ? cause : ExitCode::kRankFailed);
  if (comm_) comm_->abort(reason);
  if (host_comm_) host_comm_->abort(reason);
}

void Distributed::sum(at::Tensor& t) {
  if (!comm_) return;
  if (t.device() == device_) {
    collectives::wait_ok(comm_->allreduce(t, collectives::ReduceOp::kSum));
    return;
  }
  at::Tensor on_device = t.to(device_);  // NCCL reduces CUDA tensors only
  collectives::wait_ok(comm_->allreduce(on_device, collectives::ReduceOp::kSum));
  t.copy_(on_device);
}

at::Tensor Distributed::all_gather(const at::Tensor& mine) {
  return comm_ ? collectives::all_gather_small(*comm_, mine, device_) : mine.clone();
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
