// The client end of one store connection: connect with retries, authenticate with HELLO, then blocking frame I/O
// with deadlines (Asio's run_until pattern: start the async op, run the private io_context until the deadline,
// cancel on expiry). The control plane's monitor takes over io() and socket() for async use once connected.
// Private to kiln_cluster.
#pragma once
#include <boost/asio.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "kiln/cluster/tcp_store.h"
#include "store_protocol.h"

namespace kiln::cluster::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class StoreConnection {
 public:
  // Throws kiln::Error naming the server when it cannot connect before options.connect_timeout or is refused.
  StoreConnection(const StoreClientOptions& options, Role role);
  ~StoreConnection();

  // Both throw kiln::Error (exit code 4: the other end is gone or hung) and leave the connection unusable.
  void send(const Frame& frame, Clock::time_point deadline, const std::string& what);
  std::vector<uint8_t> receive(Clock::time_point deadline, const std::string& what);

  // Marks the connection unusable: later calls throw with this reason.
  void mark_broken(const std::string& reason);

  asio::io_context& io() { return io_; }
  tcp::socket& socket() { return socket_; }
  const std::string& server() const { return server_; }  // "host:port"
  const std::string& peer_host() const { return peer_host_; }
  int rank() const { return rank_; }
  uint32_t max_frame_bytes() const { return max_frame_; }

 private:
  void connect(std::chrono::milliseconds timeout);
  void hello(const std::string& token, Role role);
  bool run_until(Clock::time_point deadline);  // false: the deadline passed and the operation was cancelled
  void check_usable(const std::string& what) const;

  asio::io_context io_;
  tcp::socket socket_;
  std::string host_;
  uint16_t port_;
  std::string server_;
  std::string peer_host_;
  int rank_;
  uint32_t max_frame_;
  std::string broken_;
};

}  // namespace kiln::cluster::detail
