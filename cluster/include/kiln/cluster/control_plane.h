// kiln's control plane: liveness and ABORT on top of the TCP store. Every rank runs a
// ControlPlaneClient that sends a heartbeat (rank, host, current step) every second on its own thread; the server
// (the launcher, or rank 0) declares a rank dead when its heartbeats stop for 3 s or its connection closes without
// GOODBYE, and broadcasts ABORT naming the rank, host and last step to every other rank. Any rank can ABORT too.
// Protocol, timings and knobs: docs/control_plane.md.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kiln/cluster/cluster_config.h"
#include "kiln/cluster/rank_monitor.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/env_knobs.h"

namespace kiln::cluster {

// ---- Defaults (fields of ControlPlaneOptions). from_env() reads the knobs knob::kHeartbeatPeriodMs (client: send
// every N ms) and knob::kHeartbeatTimeoutMs (server: dead after N ms silent), whose declared defaults are these. ----
inline constexpr std::chrono::milliseconds kDefaultHeartbeatPeriod{1000};
inline constexpr std::chrono::milliseconds kDefaultDeadAfter{3000};

struct ControlPlaneOptions {
  std::chrono::milliseconds heartbeat_period = kDefaultHeartbeatPeriod;  // used by clients
  std::chrono::milliseconds dead_after = kDefaultDeadAfter;              // used by the server
  // Reads KILN_HEARTBEAT_PERIOD_MS / KILN_HEARTBEAT_TIMEOUT_MS; throws kiln::UsageError unless
  // 0 < period < dead_after.
  static ControlPlaneOptions from_env();
};

// What the server saw fail. `reason` is the text every rank receives in ABORT, e.g.
// "rank 1 (host node02) stopped sending heartbeats at step 120 (silent for 3.2 s)".
struct RankFailure {
  enum class Kind { kHeartbeatLost, kConnectionClosed, kRankAborted };
  Kind kind;
  int rank = 0;
  std::string host;
  int64_t step = 0;
  std::string reason;
  // kRankAborted: what the rank said its error was (ExitCode::kData, kUsage, …); kRankFailed when it had no more
  // specific cause, or for a rank that died or went silent.
  ExitCode cause = ExitCode::kRankFailed;
};

// A rank as the server sees it (diagnostics, status lines, tests).
struct RankStatus {
  enum class State { kAlive, kFinished, kDead };
  int rank = 0;
  std::string host;
  int64_t step = 0;
  std::chrono::milliseconds since_heartbeat{0};
  State state = State::kAlive;
};

// The address the launcher's control plane listens on: loopback for a job whose ranks all run on this host; else
// network.master_addr when it is an IPv4 address, else the address of network.interface (one NIC named) when this
// host has one there, else all interfaces ("0.0.0.0": the launching host, e.g. a login node, may lack the ranks'
// NIC). KILN_STORE_BIND_ADDR, when set, overrides it (the launcher checks).
std::string control_plane_bind_address(const ClusterConfig& config, bool single_host);

// The store server plus liveness tracking. Liveness is per monitor connection (one ControlPlaneClient per rank);
// plain StoreClient connections are not tracked. The first failure aborts the job: ABORT(reason) goes to every
// connected rank (and to any rank that connects later); failures after that are logged, not re-broadcast.
class ControlPlaneServer {
 public:
  explicit ControlPlaneServer(StoreServerOptions store, ControlPlaneOptions options = {});
  ~ControlPlaneServer();  // stops the watchdog and the store; does not hang
  ControlPlaneServer(const ControlPlaneServer&) = delete;
  ControlPlaneServer& operator=(const ControlPlaneServer&) = delete;

  uint16_t port() const;
  const std::string& address() const;
  const std::string& token() const;

  // Called once, for the failure that aborts the job, on the server's watchdog thread (never under a lock; the
  // callback must not destroy this server). The launcher tears the job down and exits 4 naming failure.reason.
  void on_rank_failure(std::function<void(const RankFailure&)> callback);

  // Aborts the job from the server side (the launcher saw a worker exit, or got SIGINT): every rank gets ABORT.
  // on_rank_failure is not called for it (the caller knows why).
  void abort(const std::string& reason);
  bool aborted() const;
  std::string abort_reason() const;

  // Asks every rank to stop gracefully, as if each had received `signo` (the launcher got SIGINT, SIGTERM or
  // SIGUSR1): STOP goes to every connected rank and to any that connects later. Not a failure; once only.
  void request_stop(int signo);

  std::vector<RankStatus> ranks() const;  // every rank that has connected a monitor, by rank

  struct State;

 private:
  void watchdog();

  std::shared_ptr<State> state_;
  std::unique_ptr<StoreServer> store_;
  std::thread watchdog_;
};

// A rank's side, the real RankMonitor: heartbeats and ABORT delivery on its own thread over its own connection.
// The constructor connects and authenticates like StoreClient (throws kiln::Error when it cannot). Destroying it
// (or close()) sends GOODBYE, after which this rank is not reported dead. If the server goes away, the client
// aborts with a reason saying so.
class ControlPlaneClient : public RankMonitor {
 public:
  explicit ControlPlaneClient(StoreClientOptions connection, ControlPlaneOptions options = {});
  ~ControlPlaneClient() override;  // close(); must not run on this client's own thread (inside on_abort's callback)
  ControlPlaneClient(const ControlPlaneClient&) = delete;
  ControlPlaneClient& operator=(const ControlPlaneClient&) = delete;

  // The step reported in heartbeats and therefore in failure messages. Cheap: one relaxed atomic store.
  void set_step(int64_t step) override;

  // Called once when an ABORT arrives (or the server is lost), on this client's thread, with the reason. The
  // trainer aborts its communicator there and makes the main thread exit with code 4. Registered after the abort
  // already happened: called right away on the calling thread. Not called after this rank's own abort().
  void on_abort(std::function<void(const std::string& reason)> callback) override;
  bool aborted() const override;
  std::string abort_reason() const override;
  void on_stop(std::function<void(int signo)> callback) override;

  // Aborts the whole job: every other rank gets ABORT("rank R (host H) aborted at step S: <reason>").
  void abort(const std::string& reason) override;
  void abort_with_cause(const std::string& reason, ExitCode cause) override;

  // Sends GOODBYE and closes; idempotent. Safe inside the on_abort callback (then it does not wait).
  void close() override;

  int rank() const override;

  // ---- Fault injection for tests ----
  void stop_heartbeats_for_testing();  // the connection stays open but silent: a hung rank
  void drop_connection_for_testing();  // the connection closes without GOODBYE: a crashed rank

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kiln::cluster
