// The store's operations on the io thread: set/get/add/wait and the barrier. Blocking requests park their session
// until the data arrives or their timer fires; a timeout reply says exactly what was missing.
#include <algorithm>

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
      const detail::AddResult result = detail::apply_add(kv, key, delta);
      if (!result.error.empty()) return s.send(error(result.error));
      s.send(FrameWriter(MsgType::kInt).i64(result.value).finish());
      wake_waiters();
      return;
    }
    case MsgType::kWait: {
      const uint32_t n = r.u32();
      std::vector<std::string> keys;
      for (uint32_t i = 0; i < n; ++i) keys.push_back(r.str());  // a lying n hits the end of the frame and throws
      const auto timeout = read_timeout(r);
      r.expect_end();
      if (detail::missing_keys(kv, keys).empty()) return s.send(ok());
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
    if (!detail::missing_keys(kv, keys).empty()) {
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
  detail::Missing missing;
  if (s.pending->type == MsgType::kBarrier) {
    missing = detail::give_up_barrier(barriers, s.pending->keys.front(), s.peer().rank);
  } else {
    missing.never = detail::missing_keys(kv, s.pending->keys);
    waiting.erase(&s);
  }
  s.pending.reset();
  s.send(timeout_reply(missing.never, missing.left));
}

void StoreServer::Impl::handle_barrier(Session& s, FrameReader& r) {
  std::string name = r.str();
  const int64_t world_size = r.i64();
  const auto timeout = read_timeout(r);
  r.expect_end();
  const std::string refused = detail::join_barrier(barriers, name, world_size, s.peer().rank, &s);
  if (!refused.empty()) return s.send(error(refused));
  s.pending = Session::Pending{MsgType::kBarrier, {name}, timeout, 0};
  auto everyone = detail::take_if_complete(barriers, name);
  if (!everyone) return block(s, timeout);
  // Everyone is here: release them all (the name is free for reuse already).
  for (auto& [rank, waiter] : *everyone) {
    waiter->pending.reset();
    waiter->request_timer.cancel();
    waiter->send(ok());
  }
}

}  // namespace kiln::cluster
