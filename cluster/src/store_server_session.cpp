// One server-side connection: framing, the frame cap, HELLO authentication, and dropping misbehaving peers without
// disturbing anyone else.
#include <climits>

#include "store_server_impl.h"

namespace kiln::cluster::detail {

std::string PeerInfo::describe() const {
  if (rank < 0 && host.empty()) return "peer " + remote;
  std::string out = rank >= 0 ? "rank " + std::to_string(rank) : std::string("the launcher");
  out += " (host " + (host.empty() ? std::string("?") : host) + ", " + remote + ")";
  return authenticated ? out : "unauthenticated peer claiming " + out;
}

Session::Session(StoreServer::Impl& server, tcp::socket socket, uint64_t id, std::string remote)
    : request_timer(server.io), server_(server), socket_(std::move(socket)), hello_timer_(server.io) {
  peer_.session = id;
  peer_.remote = std::move(remote);
}

void Session::start() {
  // A peer that connects and stays silent (a port scanner, a stuck process) would otherwise hold a slot forever.
  hello_timer_.expires_after(server_.options.hello_timeout);
  hello_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->peer_.authenticated && !self->closed_)
      self->close(log::Level::kWarn,
                  "no HELLO within " + format_duration(self->server_.options.hello_timeout));
  });
  read_header();
}

void Session::read_header() {
  asio::async_read(socket_, asio::buffer(header_),
                   [self = shared_from_this()](const boost::system::error_code& ec, size_t) { self->on_header(ec); });
}

void Session::on_header(const boost::system::error_code& ec) {
  if (closed_) return;
  if (ec) return on_read_error(ec);
  const uint32_t n = decode_length(header_);
  // Before HELLO the cap is tiny, so an unauthenticated peer cannot make the server allocate 64 MiB.
  const uint32_t cap = peer_.authenticated ? server_.options.max_frame_bytes : kMaxHelloFrameBytes;
  if (n == 0) return close(log::Level::kWarn, "malformed frame: zero length");
  if (n > cap)
    return close(log::Level::kWarn, "frame of " + format_bytes(n) + " exceeds the " + format_bytes(cap) + " cap" +
                                        (peer_.authenticated ? std::string(" (") + kEnvStoreMaxFrame + ")"
                                                             : std::string(" before HELLO")));
  body_.resize(n);
  asio::async_read(socket_, asio::buffer(body_),
                   [self = shared_from_this()](const boost::system::error_code& ec, size_t) { self->on_body(ec); });
}

void Session::on_body(const boost::system::error_code& ec) {
  if (closed_) return;
  if (ec) return on_read_error(ec);
  try {
    FrameReader r(body_.data(), body_.size());
    if (peer_.authenticated)
      on_message(r);
    else
      on_hello(r);
  } catch (const ProtocolError& e) {
    return close(log::Level::kWarn, std::string("malformed frame: ") + e.what());
  }
  if (!closed_ && !flush_then_close_) read_header();
}

void Session::on_read_error(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted) return;
  // A monitor connection's end is reported by the control plane with rank, host and step; here it is routine.
  const bool routine = ec == asio::error::eof || ec == asio::error::connection_reset;
  close(routine ? log::Level::kDebug : log::Level::kWarn, "connection closed (" + ec.message() + ")");
}

void Session::on_hello(FrameReader& r) {
  if (r.type() != MsgType::kHello)
    throw ProtocolError(std::string("the first frame must be HELLO, got ") + msg_name(r.type()));
  if (r.u32() != kProtocolMagic) throw ProtocolError("bad magic in HELLO: not a kiln store client");
  const uint32_t version = r.u32();
  const std::string token = r.str();
  const int64_t rank = r.i64();
  const std::string host = r.str();
  const uint8_t role = r.u8();
  r.expect_end();
  if (rank < -1 || rank > INT_MAX) throw ProtocolError("rank " + std::to_string(rank) + " in HELLO is out of range");
  if (role > static_cast<uint8_t>(Role::kMonitor)) throw ProtocolError("unknown role " + std::to_string(role));
  peer_.rank = rank;
  peer_.host = host;
  peer_.role = static_cast<Role>(role);
  if (version != kProtocolVersion)
    return reject("store protocol version " + std::to_string(version) + " is not supported (the server speaks " +
                      std::to_string(kProtocolVersion) + "): mixed kiln versions in one job",
                  "protocol version " + std::to_string(version));
  if (!tokens_equal(server_.options.token, token))
    return reject(std::string("wrong job token: this process's ") + kEnvJobToken +
                      " does not match the job's (is it from another job, or a stale environment?)",
                  "wrong job token");
  peer_.authenticated = true;
  hello_timer_.cancel();
  --server_.unauthenticated;
  ++server_.authenticated;
  send(FrameWriter(MsgType::kHelloOk).u32(kProtocolVersion).finish());
  log::debug("store: accepted " + peer_.describe());
  if (peer_.role == Role::kMonitor && server_.events) server_.events->on_hello(peer_);
}

void Session::reject(const std::string& reply, const std::string& log_reason) {
  // The peer gets a reason it can print; then the connection closes. Nothing else about the job is revealed.
  server_.rejections.note("store: rejected " + peer_.describe() + ": " + log_reason);
  send(FrameWriter(MsgType::kError).str(reply).finish());
  close_when_flushed();
}

void Session::on_message(FrameReader& r) {
  switch (r.type()) {
    case MsgType::kHeartbeat: {
      const int64_t step = r.i64();
      r.expect_end();
      if (peer_.role != Role::kMonitor) throw ProtocolError("HEARTBEAT on a store connection");
      if (server_.events) server_.events->on_heartbeat(peer_, step);
      // The echo is the rank's proof that the server hears it: a rank cut off from the server (a link down, no
      // RST) notices the silence and ends itself instead of waiting in a collective (docs/control_plane.md).
      send(FrameWriter(MsgType::kHeartbeat).i64(step).finish());
      return;
    }
    case MsgType::kAbort: {
      const std::string reason = r.str();
      const int cause = r.u8();  // the rank's ExitCode (kRankFailed when it had no more specific one)
      r.expect_end();
      if (server_.events)
        server_.events->on_abort(peer_, reason, cause);
      else
        log::error("store: " + peer_.describe() + " reported: " + reason);
      return;
    }
    case MsgType::kGoodbye:
      r.expect_end();
      goodbye_ = true;
      close_when_flushed();
      return;
    case MsgType::kSet:
    case MsgType::kGet:
    case MsgType::kAdd:
    case MsgType::kWait:
    case MsgType::kBarrier:
      if (pending)
        throw ProtocolError(std::string(msg_name(r.type())) + " sent while " + msg_name(pending->type) +
                            " is still waiting for its reply");
      server_.handle_request(*this, r);
      return;
    default:
      throw ProtocolError(std::string("unexpected ") + msg_name(r.type()) + " from a client");
  }
}

void Session::send(SharedFrame frame) {
  if (closed_) return;
  out_.push_back(std::move(frame));
  if (out_.size() == 1) write_next();
}

void Session::write_next() {
  asio::async_write(socket_, asio::buffer(*out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      if (self->closed_) return;
                      if (ec) return self->close(log::Level::kDebug, "write failed (" + ec.message() + ")");
                      self->out_.pop_front();
                      if (!self->out_.empty())
                        self->write_next();
                      else if (self->flush_then_close_)
                        self->close(log::Level::kDebug, self->goodbye_ ? "said GOODBYE" : "");
                    });
}

void Session::close_when_flushed() {
  flush_then_close_ = true;
  if (out_.empty()) close(log::Level::kDebug, goodbye_ ? "said GOODBYE" : "");
}

void Session::close(log::Level level, const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (!peer_.authenticated) --server_.unauthenticated;
  const std::string line = "store: closed connection of " + peer_.describe() + ": " + why;
  if (!why.empty() && !peer_.authenticated && level == log::Level::kWarn)
    server_.rejections.note(line);  // a stranger: rate-limited
  else if (!why.empty())
    log::write(level, line);
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  hello_timer_.cancel();
  request_timer.cancel();
  server_.forget(*this);  // last: may drop the server's reference to this session
}

}  // namespace kiln::cluster::detail
