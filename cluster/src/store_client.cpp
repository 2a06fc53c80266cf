// StoreClient: one request at a time over one authenticated connection; timeouts come back from the server with
// what was missing, and become errors that name the key (or ranks), the timeout, this rank and the server.
#include <algorithm>
#include <mutex>

#include "kiln/cluster/rank_env.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "store_connection.h"
#include "store_errors.h"

namespace kiln::cluster {

using detail::Clock;
using detail::FrameReader;
using detail::FrameWriter;
using detail::MsgType;

StoreClientOptions StoreClientOptions::from_env(const RankInfo& info) {
  StoreClientOptions o;
  if (info.master_port <= 0 || info.master_port > 65535)
    throw UsageError("store client: no valid store port for " + info.str() +
                     " (set KILN_MASTER_PORT, or MASTER_PORT under torchrun)");
  o.host = info.master_addr.empty() ? "127.0.0.1" : info.master_addr;
  o.port = static_cast<uint16_t>(info.master_port);
  o.token = job_token_from_env();
  o.rank = info.rank;
  o.connect_timeout = std::chrono::seconds(env_long(kEnvStoreConnectTimeout, kDefaultConnectTimeout.count()));
  const long cap = env_long(kEnvStoreMaxFrame, o.max_frame_bytes);
  if (cap < 1024 || cap > (1L << 31))
    throw UsageError(std::string(kEnvStoreMaxFrame) + "=" + std::to_string(cap) + " is not in [1024, 2 GiB]");
  o.max_frame_bytes = static_cast<uint32_t>(cap);
  return o;
}

struct StoreClient::Impl {
  explicit Impl(const StoreClientOptions& options) : conn(options, detail::Role::kStore) {}

  // One request/reply exchange. Replies are parsed while the lock is held: the buffer belongs to this call.
  template <typename Parse>
  auto call(const detail::Frame& request, const std::string& what, std::chrono::milliseconds blocking,
            Parse&& parse) {
    if (request.size() - detail::kFrameHeaderBytes > conn.max_frame_bytes())
      throw Error("store " + what + ": request of " + detail::format_bytes(request.size()) + " exceeds the " +
                  detail::format_bytes(conn.max_frame_bytes()) + " frame cap (" + kEnvStoreMaxFrame + ")");
    std::lock_guard<std::mutex> lock(mu);
    const auto deadline = Clock::now() + std::clamp(blocking, std::chrono::milliseconds(0), detail::kMaxTimeout) +
                          kReplyGrace;
    conn.send(request, deadline, what);
    std::vector<uint8_t> reply = conn.receive(deadline, what);
    try {
      FrameReader r(reply.data(), reply.size());
      if (r.type() == MsgType::kError) throw detail::request_refused(what, conn.rank(), r.str());
      return parse(r);
    } catch (const detail::ProtocolError& e) {
      const std::string why = std::string("malformed reply from the store server at ") + conn.server() + ": " + e.what();
      conn.mark_broken(why);
      throw Error("store " + what + ": " + why);
    }
  }

  // The server's TIMEOUT reply: what never came, and (barriers) which ranks came but left first.
  static detail::Missing missing(FrameReader& r) {
    detail::Missing out;
    for (auto* list : {&out.never, &out.left}) {
      const uint32_t n = r.u32();
      for (uint32_t i = 0; i < n; ++i) list->push_back(r.str());
    }
    r.expect_end();
    return out;
  }

  static void expect(FrameReader& r, MsgType type) {
    if (r.type() != type)
      throw detail::ProtocolError(std::string("expected ") + detail::msg_name(type) + ", got " +
                                  detail::msg_name(r.type()));
  }

  std::mutex mu;
  detail::StoreConnection conn;
};

StoreClient::StoreClient(StoreClientOptions options) : impl_(std::make_unique<Impl>(options)) {}
StoreClient::~StoreClient() = default;

int StoreClient::rank() const { return impl_->conn.rank(); }
std::string StoreClient::server() const { return impl_->conn.server(); }

void StoreClient::set(const std::string& key, const std::string& value) {
  const auto request = FrameWriter(MsgType::kSet).str(key).str(value).finish();
  impl_->call(request, "set '" + key + "'", std::chrono::milliseconds(0), [](FrameReader& r) {
    Impl::expect(r, MsgType::kOk);
    r.expect_end();
  });
}

std::string StoreClient::get(const std::string& key, std::chrono::milliseconds timeout) {
  const auto request = FrameWriter(MsgType::kGet).str(key).i64(timeout.count()).finish();
  return impl_->call(request, detail::describe_get(key), timeout, [&](FrameReader& r) {
    if (r.type() == MsgType::kTimeout) {
      Impl::missing(r);
      throw detail::get_timed_out(key, timeout, rank(), server());
    }
    Impl::expect(r, MsgType::kValue);
    std::string value = r.str();
    r.expect_end();
    return value;
  });
}

int64_t StoreClient::add(const std::string& key, int64_t delta) {
  const auto request = FrameWriter(MsgType::kAdd).str(key).i64(delta).finish();
  return impl_->call(request, detail::describe_add(key), std::chrono::milliseconds(0), [](FrameReader& r) {
    Impl::expect(r, MsgType::kInt);
    const int64_t value = r.i64();
    r.expect_end();
    return value;
  });
}

void StoreClient::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  FrameWriter w(MsgType::kWait);
  w.u32(static_cast<uint32_t>(keys.size()));
  for (const auto& k : keys) w.str(k);
  w.i64(timeout.count());
  impl_->call(w.finish(), detail::describe_wait(keys), timeout, [&](FrameReader& r) {
    if (r.type() == MsgType::kTimeout)
      throw detail::wait_timed_out(keys, timeout, Impl::missing(r).never, rank(), server());
    Impl::expect(r, MsgType::kOk);
    r.expect_end();
  });
}

void StoreClient::barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) {
  const auto request = FrameWriter(MsgType::kBarrier).str(name).i64(world_size).i64(timeout.count()).finish();
  impl_->call(request, detail::describe_barrier(name), timeout, [&](FrameReader& r) {
    if (r.type() == MsgType::kTimeout) throw detail::barrier_timed_out(name, timeout, Impl::missing(r));
    Impl::expect(r, MsgType::kOk);
    r.expect_end();
  });
}

}  // namespace kiln::cluster
