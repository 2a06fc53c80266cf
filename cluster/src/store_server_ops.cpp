// The store's operations on the io thread: set/get/add/wait and the barrier. Blocking requests park their session
// until the data arrives or their timer fires; a timeout reply says exactly what was missing.
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "store_server_impl.h"

namespace kiln::cluster {

using detail::FrameReader;
using detail::FrameWriter;
using detail::MsgType;
using detail::Session;

namespace {

detail::Frame ok() { return FrameWriter(MsgType::kOk).finish(); }
detail::Frame error(const std::string& message) { return FrameWriter(MsgType::kError).str(message).finish(); }

detail::Frame timeout_reply(const std::vector<std::string>& missing, const std::vector<std::string>& left) {
  FrameWriter w(MsgType::kTimeout);
  w.u32(static_cast<uint32_t>(missing.size()));
  for (const auto& m : missing) w.str(m);
  w.u32(static_cast<uint32_t>(left.size()));
  for (const auto& l : left) w.str(l);
  return w.finish();
}

std::chrono::milliseconds read_timeout(FrameReader& r) {
  return std::chrono::milliseconds(std::clamp<int64_t>(r.i64(), 0, detail::kMaxTimeout.count()));
}

// Strict decimal parse: a counter holding anything else is an error, not a silent zero.
bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

}  // namespace

void StoreServer::Impl::handle_request(Session& s, FrameReader& r) {
  switch (r.type()) {
    case MsgType::kSet: {
      std::string key = r.str();
      std::string value = r.str();
      r.expect_end();
      kv[std::move(key)] = std::move(value);
      s.send(ok());
      wake_waiters();
      return;
    }
    case MsgType::kGet: {
      std::string key = r.str();
      const auto timeout = read_timeout(r);
      r.expect_end();
      auto it = kv.find(key);
      if (it != kv.end()) return s.send(FrameWriter(MsgType::kValue).str(it->second).finish());
      s.pending = Session::Pending{MsgType::kGet, {std::move(key)}, timeout, 0};
      return block(s, timeout);
    }
    case MsgType::kAdd: {
      const std::string key = r.str();
      const int64_t delta = r.i64();
      r.expect_end();
      int64_t current = 0;
      auto it = kv.find(key);
      if (it != kv.end() && !parse_int64(it->second, current))
        return s.send(error("store add '" + key + "': the value stored there is not an integer"));
      int64_t next = 0;
      if (__builtin_add_overflow(current, delta, &next))
        return s.send(error("store add '" + key + "': " + std::to_string(current) + " + " + std::to_string(delta) +
                            " overflows int64"));
      kv[key] = std::to_string(next);
      s.send(FrameWriter(MsgType::kInt).i64(next).finish());
      wake_waiters();
      return;
    }
    case MsgType::kWait: {
      const uint32_t n = r.u32();
      std::vector<std::string> keys;
      for (uint32_t i = 0; i < n; ++i) keys.push_back(r.str());  // a lying n hits the end of the frame and throws
      const auto timeout = read_timeout(r);
      r.expect_end();
      const bool all = std::all_of(keys.begin(), keys.end(), [&](const auto& k) { return kv.count(k) > 0; });
      if (all) return s.send(ok());
      s.pending = Session::Pending{MsgType::kWait, std::move(keys), timeout, 0};
      return block(s, timeout);
    }
    case MsgType::kBarrier:
      return handle_barrier(s, r);
    default:
      throw detail::ProtocolError(std::string("unexpected ") + detail::msg_name(r.type()));
  }
}

void StoreServer::Impl::block(Session& s, std::chrono::milliseconds timeout) {
  if (s.pending->type != MsgType::kBarrier) waiting.insert(&s);
  if (timeout.count() <= 0) return on_request_timeout(s);
  s.pending->seq = ++s.next_seq;
  s.request_timer.expires_after(timeout);
  s.request_timer.async_wait([this, self = s.shared_from_this(), seq = s.pending->seq](
                                 const boost::system::error_code& ec) {
    // A reply may have been sent after the timer fired but before this ran: the sequence number tells.
    if (!ec && !self->closed() && self->pending && self->pending->seq == seq) on_request_timeout(*self);
  });
}

void StoreServer::Impl::wake_waiters() {
  for (auto it = waiting.begin(); it != waiting.end();) {
    Session& s = **it;
    const auto& keys = s.pending->keys;
    const bool ready = std::all_of(keys.begin(), keys.end(), [&](const auto& k) { return kv.count(k) > 0; });
    if (!ready) {
      ++it;
      continue;
    }
    if (s.pending->type == MsgType::kGet)
      s.send(FrameWriter(MsgType::kValue).str(kv[keys.front()]).finish());
    else
      s.send(ok());
    s.pending.reset();
    s.request_timer.cancel();
    it = waiting.erase(it);
  }
}

void StoreServer::Impl::on_request_timeout(Session& s) {
  std::vector<std::string> missing, left;
  if (s.pending->type == MsgType::kBarrier) {
    auto it = barriers.find(s.pending->keys.front());
    if (it != barriers.end()) {
      Barrier& b = it->second;
      // Name the ranks that never came. Ranks that came and gave up earlier are named only when nobody is
      // missing: they are a consequence in the first case and the whole explanation in the second.
      for (int64_t rank = 0; rank < b.world_size; ++rank)
        if (!b.arrived.count(rank) && !b.left.count(rank)) missing.push_back(std::to_string(rank));
      if (missing.empty())
        for (int64_t rank : b.left) left.push_back(std::to_string(rank));
      // This rank gives up too: it no longer counts towards completion.
      b.arrived.erase(s.peer().rank);
      b.left.insert(s.peer().rank);
    }
  } else {
    for (const auto& k : s.pending->keys)
      if (!kv.count(k)) missing.push_back(k);
    waiting.erase(&s);
  }
  s.pending.reset();
  s.send(timeout_reply(missing, left));
}

void StoreServer::Impl::handle_barrier(Session& s, FrameReader& r) {
  std::string name = r.str();
  const int64_t world_size = r.i64();
  const auto timeout = read_timeout(r);
  r.expect_end();
  const int64_t rank = s.peer().rank;
  const std::string what = "barrier '" + name + "': ";
  if (world_size < 1 || rank < 0 || rank >= world_size)
    return s.send(error(what + "rank " + std::to_string(rank) + " is not in [0, world size " +
                        std::to_string(world_size) + ")"));
  auto it = barriers.find(name);
  if (it != barriers.end() && it->second.arrived.empty() && it->second.world_size != world_size) {
    barriers.erase(it);  // only ranks that already gave up disagree: a new barrier under an old name
    it = barriers.end();
  }
  if (it != barriers.end() && it->second.world_size != world_size)
    return s.send(error(what + "rank " + std::to_string(rank) + " says the world size is " +
                        std::to_string(world_size) + " but rank " + std::to_string(it->second.arrived.begin()->first) +
                        " said " + std::to_string(it->second.world_size)));
  if (it != barriers.end() && it->second.arrived.count(rank))
    return s.send(error(what + "rank " + std::to_string(rank) +
                        " is already waiting here (two processes with the same rank?)"));
  Barrier& b = barriers[name];
  b.world_size = world_size;
  b.arrived[rank] = &s;
  b.left.erase(rank);  // came back after giving up
  s.pending = Session::Pending{MsgType::kBarrier, {name}, timeout, 0};
  if (static_cast<int64_t>(b.arrived.size()) < world_size) return block(s, timeout);
  // Everyone is here: release them all and forget the barrier, so the same name can be used again.
  for (auto& [r2, waiter] : b.arrived) {
    waiter->pending.reset();
    waiter->request_timer.cancel();
    waiter->send(ok());
  }
  barriers.erase(name);
}

}  // namespace kiln::cluster
