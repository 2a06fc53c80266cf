#include "store_connection.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::cluster::detail {

namespace {

std::string local_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

}  // namespace

StoreConnection::StoreConnection(const StoreClientOptions& options, Role role)
    : socket_(io_),
      host_(options.host),
      port_(options.port),
      server_(options.host + ":" + std::to_string(options.port)),
      peer_host_(options.peer_host.empty() ? local_host_name() : options.peer_host),
      rank_(options.rank),
      max_frame_(options.max_frame_bytes) {
  if (options.port == 0) throw UsageError("store client: no server port given (KILN_MASTER_PORT)");
  if (options.token.empty()) throw UsageError(std::string("store client: no job token given (") + kEnvJobToken + ")");
  connect(options.connect_timeout);
  hello(options.token, role);
}

StoreConnection::~StoreConnection() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

bool StoreConnection::run_until(Clock::time_point deadline) {
  io_.restart();
  io_.run_until(deadline);
  if (io_.stopped()) return true;  // the operation finished and the io_context ran out of work
  boost::system::error_code ignored;
  socket_.close(ignored);  // cancels the operation; its handler still has to run
  io_.restart();
  io_.run();
  return false;
}

void StoreConnection::connect(std::chrono::milliseconds timeout) {
  // The server may start after the ranks (the launcher, or rank 0 still loading): retry with backoff until deadline.
  auto backoff = std::chrono::milliseconds(50);
  const auto deadline = Clock::now() + std::min(timeout, kMaxTimeout);
  for (;;) {
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    const auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
    if (!ec) {
      ec = asio::error::would_block;
      asio::async_connect(socket_, endpoints,
                          [&ec](const boost::system::error_code& e, const tcp::endpoint&) { ec = e; });
      if (!run_until(std::min(deadline, Clock::now() + std::chrono::seconds(10)))) ec = asio::error::timed_out;
      if (!ec) {
        set_close_on_exec(socket_.native_handle());
        socket_.set_option(tcp::no_delay(true), ec);
        return;
      }
    }
    boost::system::error_code ignored;
    socket_.close(ignored);
    const auto now = Clock::now();
    if (now >= deadline) {
      throw Error("rank " + std::to_string(rank_) + " could not reach the kiln store at " + server_ + " within " +
                  format_duration(timeout) + " (last error: " + ec.message() +
                  "); is the launcher (or rank 0) running, and are KILN_MASTER_ADDR/KILN_MASTER_PORT right?");
    }
    log::debug("store client: " + server_ + " not reachable yet (" + ec.message() + "), retrying");
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

void StoreConnection::hello(const std::string& token, Role role) {
  const auto deadline = Clock::now() + kDefaultHelloTimeout;
  const Frame frame = FrameWriter(MsgType::kHello)
                          .u32(kProtocolMagic)
                          .u32(kProtocolVersion)
                          .str(token)
                          .i64(rank_)
                          .str(peer_host_)
                          .u8(static_cast<uint8_t>(role))
                          .finish();
  std::vector<uint8_t> reply;
  try {
    send(frame, deadline, "HELLO");
    reply = receive(deadline, "HELLO");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (is another program listening on that port?)");
  }
  try {
    FrameReader r(reply.data(), reply.size());
    if (r.type() == MsgType::kError)
      throw Error("the kiln store at " + server_ + " rejected rank " + std::to_string(rank_) + ": " + r.str());
    if (r.type() != MsgType::kHelloOk)
      throw ProtocolError(std::string("expected HELLO_OK, got ") + msg_name(r.type()));
  } catch (const ProtocolError& e) {
    throw Error("the kiln store at " + server_ + " answered HELLO with a malformed frame: " + e.what());
  }
}

void StoreConnection::check_usable(const std::string& what) const {
  if (!broken_.empty())
    throw Error("store " + what + " (rank " + std::to_string(rank_) +
                    "): the connection is unusable after an earlier error: " + broken_,
                ExitCode::kRankFailed);
}

void StoreConnection::mark_broken(const std::string& reason) {
  if (broken_.empty()) broken_ = reason;
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void StoreConnection::send(const Frame& frame, Clock::time_point deadline, const std::string& what) {
  check_usable(what);
  boost::system::error_code result = asio::error::would_block;
  asio::async_write(socket_, asio::buffer(frame),
                    [&result](const boost::system::error_code& ec, size_t) { result = ec; });
  std::string failure;
  if (!run_until(deadline))
    failure = "the store server at " + server_ + " did not accept " + what + " in time (hung or overloaded?)";
  else if (result)
    failure = "lost connection to the store server at " + server_ + " while sending " + what + ": " +
              result.message();
  if (failure.empty()) return;
  mark_broken(failure);
  throw Error(failure, ExitCode::kRankFailed);
}

std::vector<uint8_t> StoreConnection::receive(Clock::time_point deadline, const std::string& what) {
  check_usable(what);
  uint8_t header[kFrameHeaderBytes];
  std::vector<uint8_t> body;
  boost::system::error_code result = asio::error::would_block;
  uint32_t length = 0;
  asio::async_read(socket_, asio::buffer(header), [&](const boost::system::error_code& ec, size_t) {
    if (ec) {
      result = ec;
      return;
    }
    length = decode_length(header);
    if (length == 0 || length > max_frame_) {
      result = asio::error::message_size;
      return;
    }
    body.resize(length);
    asio::async_read(socket_, asio::buffer(body),
                     [&result](const boost::system::error_code& e, size_t) { result = e; });
  });
  std::string failure;
  if (!run_until(deadline))
    failure = "the store server at " + server_ + " did not answer " + what + " in time (hung or overloaded?)";
  else if (result == asio::error::message_size)
    failure = "the store server at " + server_ + " sent a frame of " + format_bytes(length) + " (cap " +
              format_bytes(max_frame_) + ", " + kEnvStoreMaxFrame + ") in reply to " + what;
  else if (result)
    failure = "lost connection to the store server at " + server_ + " waiting for the reply to " + what + ": " +
              result.message();
  if (failure.empty()) return body;
  mark_broken(failure);
  throw Error(failure, ExitCode::kRankFailed);
}

}  // namespace kiln::cluster::detail
