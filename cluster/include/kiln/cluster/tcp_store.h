// kiln's key-value store over TCP (after c10d's TCPStore): a server run by the launcher or rank 0, and a client per
// rank implementing Store (store.h). Every connection authenticates with the per-job token; frames are
// length-prefixed and size-capped. Wire format, timings and knobs: docs/control_plane.md.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/cluster/store.h"
#include "kiln/common/env_knobs.h"

namespace kiln::cluster {

struct RankInfo;

// ---- Defaults; each is a field of the options below, and most can be set through the environment. ----
inline constexpr uint32_t kDefaultMaxFrameBytes = 64u << 20;  // a bigger frame drops the connection
inline constexpr uint32_t kMaxHelloFrameBytes = 4096;         // cap before a peer has authenticated
inline constexpr std::chrono::seconds kDefaultHelloTimeout{10};    // a peer silent this long after connecting is dropped
inline constexpr std::chrono::seconds kDefaultConnectTimeout{60};  // the client retries until then (server may start later)
inline constexpr std::chrono::seconds kReplyGrace{10};  // a blocking call waits this much past its own timeout

// ---- Environment knobs (read by the from_env() functions only). ----
// Declared, with defaults and meanings, in kiln/common/env_knobs.h.
inline constexpr const char* kEnvJobToken = knob::kJobToken.name;  // 32 hex chars, set by the launcher
inline constexpr const char* kEnvStoreBindAddr = knob::kStoreBindAddr.name;
inline constexpr const char* kEnvStoreMaxFrame = knob::kStoreMaxFrameBytes.name;
inline constexpr const char* kEnvStoreConnectTimeout = knob::kStoreConnectTimeoutS.name;
// Where ranks find the server: KILN_MASTER_ADDR / KILN_MASTER_PORT (or torchrun's MASTER_*), see rank_env.h.

// A fresh per-job secret: 32 lowercase hex characters from std::random_device.
std::string make_job_token();
bool is_valid_job_token(const std::string& token);
// KILN_JOB_TOKEN; throws kiln::UsageError when it is missing or not 32 hex characters.
std::string job_token_from_env();

struct StoreServerOptions {
  std::string address = "0.0.0.0";  // listen address; "127.0.0.1" keeps the job on this host
  uint16_t port = 0;                 // 0: the OS picks a free port, read it back with port()
  std::string token;                 // required: make_job_token() in the launcher
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  std::chrono::milliseconds hello_timeout = kDefaultHelloTimeout;
  // Connections still waiting for their HELLO: beyond this many the oldest is dropped, so idle strangers cannot
  // exhaust the launcher's file descriptors while the job's own ranks, which say HELLO at once, always get in.
  size_t max_unauthenticated = 64;

  // address from KILN_STORE_BIND_ADDR, max_frame_bytes from KILN_STORE_MAX_FRAME_BYTES; port and token as given.
  static StoreServerOptions from_env(const std::string& token, uint16_t port = 0);
};

namespace detail {
class PeerEvents;
}

// The server: listens on construction (throws kiln::Error naming the address when it cannot), serves on its own
// thread, and stops and joins in its destructor. A wrong token, a malformed or oversized frame closes only the
// offending connection (logged with its address and claimed rank); the server and other clients carry on.
class StoreServer {
 public:
  explicit StoreServer(StoreServerOptions options);
  ~StoreServer();
  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;

  uint16_t port() const;                 // the bound port (the OS-assigned one when options.port was 0)
  const std::string& address() const;    // the listen address
  const std::string& token() const;
  size_t connection_count() const;       // authenticated connections now open (diagnostics, tests)
  size_t unauthenticated_count() const;  // connections still waiting for their HELLO (diagnostics, tests)

  struct Impl;

 private:
  friend class ControlPlaneServer;
  // The control plane sees connection events from the moment the server listens.
  StoreServer(StoreServerOptions options, std::shared_ptr<detail::PeerEvents> events);
  std::shared_ptr<Impl> impl_;
};

struct StoreClientOptions {
  std::string host = "127.0.0.1";  // the server's address or name
  uint16_t port = 0;
  std::string token;
  int rank = 0;           // this process's rank, sent in HELLO (barriers count it; failure messages name it)
  std::string peer_host;  // this process's host name in messages; empty: gethostname()
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;

  // host/port from info.master_addr/master_port (KILN_MASTER_ADDR/PORT), token from KILN_JOB_TOKEN, rank from
  // info.rank, connect_timeout from KILN_STORE_CONNECT_TIMEOUT_S, cap from KILN_STORE_MAX_FRAME_BYTES.
  // Throws kiln::UsageError when the port or the token is missing.
  static StoreClientOptions from_env(const RankInfo& info);
};

// One connection to the store: the TCP Store. The constructor connects (retrying until connect_timeout, since the
// server may start later) and authenticates; it throws kiln::Error when it cannot, e.g. on a wrong token. Calls are
// thread-safe (serialised on one connection). A failed call that leaves the connection unusable makes later calls
// throw too. Semantics of the calls: store.h.
class StoreClient : public Store {
 public:
  explicit StoreClient(StoreClientOptions options);
  ~StoreClient() override;
  StoreClient(const StoreClient&) = delete;
  StoreClient& operator=(const StoreClient&) = delete;

  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key, std::chrono::milliseconds timeout) override;
  int64_t add(const std::string& key, int64_t delta) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  void barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) override;

  int rank() const override;            // the rank sent in HELLO
  std::string server() const override;  // "host:port"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::cluster
