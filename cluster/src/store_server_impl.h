// Inside the store server: one io_context thread owns every connection (Session) and all store state, so nothing
// here needs a lock; other threads reach it only through post_send()/post_broadcast(). Private to kiln_cluster.
#pragma once
#include <atomic>
#include <boost/asio.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kiln/cluster/tcp_store.h"
#include "kiln/common/log.h"
#include "rejection_log.h"
#include "store_protocol.h"
#include "store_rules.h"

namespace kiln::cluster::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Who is at the other end of a connection, as far as the server knows.
struct PeerInfo {
  uint64_t session = 0;
  std::string remote;  // "10.0.0.2:51234"
  int64_t rank = -1;
  std::string host;
  Role role = Role::kStore;
  bool authenticated = false;
  // "rank 1 (host node02, 10.0.0.2:51234)"; an unauthenticated peer shows what it claimed, if anything.
  std::string describe() const;
};

// How the control plane sees monitor connections. Called on the server's io thread: must not block.
class PeerEvents {
 public:
  virtual ~PeerEvents() = default;
  virtual void on_hello(const PeerInfo& peer) = 0;
  virtual void on_heartbeat(const PeerInfo& peer, int64_t step) = 0;
  virtual void on_abort(const PeerInfo& peer, const std::string& reason, int cause) = 0;
  // goodbye: the peer said GOODBYE before the connection closed (a clean exit).
  virtual void on_close(const PeerInfo& peer, bool goodbye) = 0;
};

class Session;

}  // namespace kiln::cluster::detail

namespace kiln::cluster {

struct StoreServer::Impl {
  Impl(StoreServerOptions opts, std::shared_ptr<detail::PeerEvents> ev);
  ~Impl();
  void stop();  // from any thread but the io thread; idempotent

  // ---- io thread only ----
  void accept();
  void handle_request(detail::Session& s, detail::FrameReader& r);  // SET/GET/ADD/WAIT/BARRIER
  void forget(detail::Session& s);                                   // the session closed
  void on_request_timeout(detail::Session& s);
  void drop_oldest_unauthenticated();  // when more than options.max_unauthenticated wait for their HELLO

  // ---- any thread ----
  void post_send(uint64_t session, detail::SharedFrame frame);
  // To every authenticated monitor connection except `except` (0: none).
  void post_broadcast(detail::SharedFrame frame, uint64_t except);

  StoreServerOptions options;
  std::shared_ptr<detail::PeerEvents> events;
  detail::asio::io_context io;  // declared first: destroyed last, after everything that uses it
  detail::tcp::acceptor acceptor;
  detail::asio::steady_timer accept_retry;
  std::thread thread;
  uint16_t port = 0;
  std::atomic<size_t> authenticated{0};
  std::atomic<size_t> unauthenticated{0};
  detail::RejectionLog rejections;  // io thread
  std::atomic<bool> stopped{false};

  bool stopping = false;  // io thread: shutting down, report no connection events
  uint64_t next_session = 1;
  std::map<uint64_t, std::shared_ptr<detail::Session>> sessions;
  detail::KeyValues kv;
  std::set<detail::Session*> waiting;  // sessions blocked in GET or WAIT
  // Each lives until it completes, so a timeout can tell "never came" from "came, then left".
  detail::Barriers<detail::Session*> barriers;

 private:
  void block(detail::Session& s, std::chrono::milliseconds timeout);
  void wake_waiters();
  void handle_barrier(detail::Session& s, detail::FrameReader& r);
};

}  // namespace kiln::cluster

namespace kiln::cluster::detail {

// One TCP connection. Reads frames one after another; the first must be an authenticating HELLO. Replies and
// pushes go through a write queue so they never interleave.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(StoreServer::Impl& server, tcp::socket socket, uint64_t id, std::string remote);
  void start();
  void send(SharedFrame frame);
  void send(Frame frame) { send(std::make_shared<const Frame>(std::move(frame))); }
  // Closes now and tells the server; `why` is logged at `level` unless empty. Idempotent.
  void close(log::Level level, const std::string& why);
  // Closes once the queued frames are written (after an ERROR reply to a rejected HELLO, or a GOODBYE).
  void close_when_flushed();

  const PeerInfo& peer() const { return peer_; }
  bool closed() const { return closed_; }
  bool goodbye() const { return goodbye_; }

  // The one blocking request this connection may have outstanding: clients are serial, so a second request before
  // the reply is a protocol violation.
  struct Pending {
    MsgType type;
    std::vector<std::string> keys;  // GET: one key, WAIT: all keys, BARRIER: the barrier's name
    std::chrono::milliseconds timeout{0};
    uint64_t seq = 0;
  };
  std::optional<Pending> pending;
  asio::steady_timer request_timer;
  uint64_t next_seq = 0;

 private:
  void read_header();
  void on_header(const boost::system::error_code& ec);
  void on_body(const boost::system::error_code& ec);
  void on_read_error(const boost::system::error_code& ec);
  void on_hello(FrameReader& r);
  void reject(const std::string& reply, const std::string& log_reason);
  void on_message(FrameReader& r);
  void write_next();

  StoreServer::Impl& server_;
  tcp::socket socket_;
  asio::steady_timer hello_timer_;
  PeerInfo peer_;
  uint8_t header_[kFrameHeaderBytes] = {};
  std::vector<uint8_t> body_;
  std::deque<SharedFrame> out_;
  bool closed_ = false;
  bool flush_then_close_ = false;
  bool goodbye_ = false;
};

}  // namespace kiln::cluster::detail
