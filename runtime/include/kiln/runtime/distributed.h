// The data-parallel context of one rank: its place in the world and the communicator it reduces with. A single
// process gets a context with no communicator, and every helper below is then a no-op, so the trainer reads the
// same for 1 and N ranks.
#pragma once
#include <ATen/Tensor.h>

#include <c10/core/Device.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/rank_env.h"
#include "kiln/cluster/rank_monitor.h"
#include "kiln/cluster/store.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/collectives/backends.h"
#include "kiln/collectives/communicator.h"

namespace kiln::runtime {

class TorchrunStore;

// NCCL's unique id, created by rank 0 (`make_id`, default collectives::nccl_make_unique_id) and fetched by the other
// ranks from `store` (waiting up to `timeout`). Returns the id's bytes on every rank. A store shared by successive
// communicators gives each its own PrefixStore, since the key is fixed.
std::string share_nccl_unique_id(cluster::Store& store, int rank, const std::function<std::string()>& make_id = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(120));
// The same over a side connection to the control-plane store at `conn` (not counted as a rank).
std::string share_nccl_unique_id(cluster::StoreClientOptions conn, int rank,
                                 const std::function<std::string()>& make_id = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Fail-fast: every rank also joins the control plane (cluster/control_plane.h) — the kiln launcher's server when
// KILN_JOB_TOKEN/KILN_MASTER_ADDR/KILN_MASTER_PORT are set, otherwise one that rank 0 starts and announces over MPI
// (a bare `mpirun kiln …`) or, for ranks torchrun started, through torchrun's store at MASTER_ADDR:MASTER_PORT
// (torchrun_store.h). When any rank dies, hangs or fails, the others receive ABORT naming it: the
// communicator is aborted (so no rank hangs in an all-reduce) and check() throws with exit code 4.
class Distributed {
 public:
  // world_size 1 → no communicator. CPU ranks use the MPI backend (they must form an MPI world: mpirun,
  // srun --mpi=pmix, or kiln's launcher which starts them through mpirun), or Gloo (KILN_CPU_BACKEND; the default
  // for ranks torchrun started), which rendezvouses through the control-plane store and needs no MPI at all. CUDA
  // ranks use NCCL on `device`; rank 0 creates NCCL's unique id and hands it out through the control-plane store, so
  // they need MPI only under a bare mpirun/srun (rank 0 hosts the control plane and announces it over MPI).
  explicit Distributed(const cluster::RankInfo& rank, c10::Device device = c10::Device(c10::kCPU));
  // From parts made elsewhere: this rank's communicator and its monitor (either may be null, e.g. a world of one).
  // Ranks run as threads in one process get collectives::make_thread_world and cluster::LocalControlPlane; the
  // abort wiring is the same as for a real job.
  Distributed(const cluster::RankInfo& rank, std::unique_ptr<collectives::Communicator> comm,
              std::unique_ptr<cluster::RankMonitor> monitor, c10::Device device = c10::Device(c10::kCPU));
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  void set_step(int64_t step);  // reported in heartbeats, so a failure names the step
  void check();                 // throws kiln::Error(kRankFailed) naming the culprit once the job was aborted
  // A better account of `failure` when there is one: a collective that failed because a peer died (Gloo hears its
  // sockets close) fails a moment before the control plane's ABORT that names the peer, its host and step. For a
  // collectives::CollectiveError, waits up to 2 s for that ABORT and returns the error check() would throw.
  std::optional<Error> explained_by_abort(const std::exception& failure) const;
  // This rank failed (an exception on its way to main): tell every other rank, so they stop now. `cause` is the
  // error's exit code: a data (3) or spec (2) error reaches the launcher, which exits with it rather than 4.
  void abort_job(const std::string& reason, ExitCode cause = ExitCode::kRankFailed);

  const cluster::RankInfo& rank_info() const { return rank_; }
  int rank() const { return rank_.rank; }
  int world_size() const { return rank_.world_size; }
  bool is_root() const { return rank_.rank == 0; }
  c10::Device device() const { return device_; }
  collectives::Communicator* comm() { return comm_.get(); }
  cluster::RankMonitor* monitor() { return monitor_.get(); }

  // Sums doubles/int64 counters over ranks in place (no-op on one rank); CPU tensors are fine on any backend.
  void sum(at::Tensor& t);
  // Every rank's copy of a 1-D CPU tensor of the same length, rank by rank: [world_size * n] (itself on one rank).
  at::Tensor all_gather(const at::Tensor& mine);
  // Averages floating-point tensors over ranks in place, e.g. batch-norm running statistics.
  void average(const std::vector<at::Tensor>& tensors);
  void barrier();

 private:
  cluster::RankInfo rank_;
  c10::Device device_;
  std::unique_ptr<collectives::MpiSession> mpi_;
  std::unique_ptr<collectives::Communicator> host_comm_;  // MPI, when CUDA ranks need it to find the control plane
  std::unique_ptr<collectives::Communicator> comm_;       // the data-parallel communicator (MPI, Gloo or NCCL)
  std::unique_ptr<TorchrunStore> torchrun_store_;  // how the ranks found rank 0's server under torchrun
  std::unique_ptr<cluster::ControlPlaneServer> server_;  // rank 0 with no kiln launcher (bare mpirun, torchrun)
  std::unique_ptr<cluster::RankMonitor> monitor_;  // ControlPlaneClient in a real job

  std::optional<Error> abort_error() const;  // "job aborted: <reason>" (kRankFailed) once the job was aborted
  // An ABORT aborts the communicators, so no rank waits in a collective for a rank that will never come.
  void abort_collectives_on_abort();
};

}  // namespace kiln::runtime
