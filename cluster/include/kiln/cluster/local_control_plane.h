// The control plane inside one process, for ranks run as threads (as HashStore is the store): ControlPlaneServer's
// ABORT rules without sockets or heartbeats. The first failure aborts the job and every other rank's monitor hears
// it, worded as the TCP server words it; a rank's own abort is not echoed back to it; a rank that joins after the
// abort learns of it at once; a rank that closed (GOODBYE) hears nothing more. The abort state of each monitor is
// kept by the same code as ControlPlaneClient's. Threads cannot go silent or crash on their own, so there is no
// watchdog: exited() stands in for a rank whose connection closed without GOODBYE.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/cluster/rank_monitor.h"

namespace kiln::cluster {

class LocalControlPlane {
 public:
  LocalControlPlane();
  ~LocalControlPlane();
  LocalControlPlane(const LocalControlPlane&) = delete;
  LocalControlPlane& operator=(const LocalControlPlane&) = delete;

  // Rank `rank`'s monitor, on `host` (named in failure messages). Monitors may outlive the plane. Callbacks run on
  // the thread that aborts the job.
  std::unique_ptr<RankMonitor> join(int rank, const std::string& host = "localhost");

  // Aborts the job from outside the ranks, as ControlPlaneServer::abort: every rank hears `reason` as given.
  void abort(const std::string& reason);
  // Rank `rank` is gone without GOODBYE (a crash): the others hear "rank R (host H) exited (connection closed) at
  // step S", as from the TCP server. The rank's monitor is closed.
  void exited(int rank);

  bool aborted() const;
  std::string abort_reason() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kiln::cluster
