// The store server's lifecycle: listen, accept on the io thread, push frames from other threads, shut down cleanly.
#include <boost/asio.hpp>

#include "kiln/cluster/tcp_store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "store_server_impl.h"

namespace kiln::cluster {

using detail::Session;
using detail::SharedFrame;
namespace asio = detail::asio;
using detail::tcp;

StoreServerOptions StoreServerOptions::from_env(const std::string& token, uint16_t port) {
  StoreServerOptions o;
  o.token = token;
  o.port = port;
  o.address = env_string(kEnvStoreBindAddr, o.address);
  const long cap = env_long(kEnvStoreMaxFrame, o.max_frame_bytes);
  if (cap < 1024 || cap > (1L << 31))
    throw UsageError(std::string(kEnvStoreMaxFrame) + "=" + std::to_string(cap) + " is not in [1024, 2 GiB]");
  o.max_frame_bytes = static_cast<uint32_t>(cap);
  return o;
}

StoreServer::Impl::Impl(StoreServerOptions opts, std::shared_ptr<detail::PeerEvents> ev)
    : options(std::move(opts)), events(std::move(ev)), acceptor(io), accept_retry(io) {
  if (options.token.empty()) throw UsageError("store server: an empty job token would let anyone in");
  const std::string where = options.address + ":" + std::to_string(options.port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) throw UsageError("store server: '" + options.address + "' is not an IP address (" + ec.message() + ")");
  const tcp::endpoint endpoint(address, options.port);
  // Each step can fail on its own (a taken port is the common case); the message names the address either way.
  auto check = [&](const char* step) {
    if (ec) throw Error("store server: cannot listen on " + where + ": " + step + ": " + ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  check("open");
  detail::set_close_on_exec(acceptor.native_handle());
  // Lets a fixed port be rebound right after a previous job; Linux still refuses two live listeners on one port.
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  check("SO_REUSEADDR");
  acceptor.bind(endpoint, ec);
  check("bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  check("listen");
  port = acceptor.local_endpoint().port();
  accept();
  thread = std::thread([this] {
    // A throwing handler is a bug; log it and keep serving rather than take the whole job down.
    for (;;) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        log::error(std::string("store server: unexpected error on the io thread: ") + e.what());
      }
    }
  });
  log::debug("store server: listening on " + options.address + ":" + std::to_string(port));
}

StoreServer::Impl::~Impl() { stop(); }

void StoreServer::Impl::stop() {
  if (stopped.exchange(true)) return;
  asio::post(io, [this] {
    stopping = true;
    boost::system::error_code ignored;
    acceptor.close(ignored);
    accept_retry.cancel();
    rejections.flush();
    auto open = sessions;  // close() erases from `sessions`
    for (auto& [id, s] : open) s->close(log::Level::kDebug, "");
    // Stop now: handlers still queued only hold sessions, which the io_context destroys with it.
    io.stop();
  });
  if (thread.joinable()) thread.join();
}

void StoreServer::Impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopping || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning, keep the listener.
      log::warn("store server: accept failed: " + ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    boost::system::error_code rec;
    const auto remote = socket.remote_endpoint(rec);
    const std::string who = rec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    detail::set_close_on_exec(socket.native_handle());
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // small request/reply frames; latency matters, not batching
    const uint64_t id = next_session++;
    auto s = std::make_shared<Session>(*this, std::move(socket), id, who);
    sessions.emplace(id, s);
    ++unauthenticated;
    s->start();
    if (unauthenticated > options.max_unauthenticated) drop_oldest_unauthenticated();
    accept();
  });
}

void StoreServer::Impl::drop_oldest_unauthenticated() {
  for (auto& [id, s] : sessions) {
    if (s->peer().authenticated || s->closed()) continue;
    s->close(log::Level::kWarn, log::cat("dropped: more than ", options.max_unauthenticated,
                                         " connections were waiting for their HELLO (the oldest goes)"));
    return;
  }
}

void StoreServer::Impl::forget(Session& s) {
  if (s.pending) {
    if (s.pending->type == detail::MsgType::kBarrier) {
      auto it = barriers.find(s.pending->keys.front());
      if (it != barriers.end()) {
        auto r = it->second.arrived.find(s.peer().rank);
        if (r != it->second.arrived.end() && r->second == &s) {
          it->second.arrived.erase(r);
          it->second.left.insert(s.peer().rank);
        }
      }
    }
    waiting.erase(&s);
    s.pending.reset();
  }
  const detail::PeerInfo peer = s.peer();
  const bool goodbye = s.goodbye();
  sessions.erase(peer.session);  // may destroy `s`: nothing below touches it
  if (!peer.authenticated) return;
  --authenticated;
  if (peer.role == detail::Role::kMonitor && events && !stopping) events->on_close(peer, goodbye);
}

void StoreServer::Impl::post_send(uint64_t session, SharedFrame frame) {
  asio::post(io, [this, session, frame = std::move(frame)] {
    auto it = sessions.find(session);
    if (it != sessions.end() && it->second->peer().authenticated) it->second->send(frame);
  });
}

void StoreServer::Impl::post_broadcast(SharedFrame frame, uint64_t except) {
  asio::post(io, [this, except, frame = std::move(frame)] {
    for (auto& [id, s] : sessions)
      if (id != except && s->peer().authenticated && s->peer().role == detail::Role::kMonitor) s->send(frame);
  });
}

StoreServer::StoreServer(StoreServerOptions options) : StoreServer(std::move(options), nullptr) {}

StoreServer::StoreServer(StoreServerOptions options, std::shared_ptr<detail::PeerEvents> events)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(events))) {}

StoreServer::~StoreServer() { impl_->stop(); }

uint16_t StoreServer::port() const { return impl_->port; }
const std::string& StoreServer::address() const { return impl_->options.address; }
const std::string& StoreServer::token() const { return impl_->options.token; }
size_t StoreServer::connection_count() const { return impl_->authenticated.load(); }
size_t StoreServer::unauthenticated_count() const { return impl_->unauthenticated.load(); }

}  // namespace kiln::cluster
