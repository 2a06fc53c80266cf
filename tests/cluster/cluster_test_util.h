// Helpers shared by the cluster tests: a loopback store server with a fresh job token, client options that reach
// it, control plane clients for given ranks and hosts, and polling for things that must happen eventually.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/tcp_store.h"

namespace kiln::cluster::test {

using namespace std::chrono_literals;

// Generous: "must happen" limits are not performance assertions, the machine may be loaded.
inline constexpr auto kLong = 30s;

// A server on the loopback address with a fresh job token; port 0 lets the OS pick a free one.
inline StoreServerOptions server_options(uint16_t port = 0) {
  StoreServerOptions o;
  o.address = "127.0.0.1";
  o.port = port;
  o.token = make_job_token();
  return o;
}

inline StoreClientOptions client_options(uint16_t port, const std::string& token, int rank = 0) {
  StoreClientOptions o;
  o.port = port;
  o.token = token;
  o.rank = rank;
  return o;
}

inline StoreClientOptions client_options(const StoreServer& server, int rank) {
  return client_options(server.port(), server.token(), rank);
}

inline StoreClientOptions client_options(const ControlPlaneServer& server, int rank) {
  return client_options(server.port(), server.token(), rank);
}

// Control plane timings for tests: a heartbeat every 50 ms, a rank declared dead after `dead_after` of silence.
inline ControlPlaneOptions fast_heartbeats(std::chrono::milliseconds dead_after) {
  ControlPlaneOptions o;
  o.heartbeat_period = 50ms;
  o.dead_after = dead_after;
  return o;
}

// A control plane client joining `server` as rank r on `host`.
inline std::unique_ptr<ControlPlaneClient> connect_rank(const ControlPlaneServer& server, int r,
                                                        const std::string& host, const ControlPlaneOptions& options) {
  StoreClientOptions o = client_options(server, r);
  o.peer_host = host;
  return std::make_unique<ControlPlaneClient>(o, options);
}

// Polls `pred` every 10 ms until it holds (true) or `limit` passes (then one last try decides).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = kLong) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// Whether the server's view of rank r has reached `step`.
inline bool server_sees_step(const ControlPlaneServer& server, int r, int64_t step) {
  for (const auto& s : server.ranks())
    if (s.rank == r && s.step == step) return true;
  return false;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace kiln::cluster::test
