// The server side of liveness: monitor connections report in (io thread), a watchdog thread declares silent ranks
// dead, and the first failure becomes the job's ABORT, broadcast to every rank and handed to the launcher.
#include <algorithm>
#include <array>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include "kiln/cluster/control_plane.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/signals.h"
#include "failure_reasons.h"
#include "store_server_impl.h"

namespace kiln::cluster {

using detail::PeerInfo;
using Clock = std::chrono::steady_clock;

namespace {

using detail::seconds_text;

// How long a rank may be silent before it is declared dead: dead_after, or twice the longest gap between its last
// heartbeats when they have been coming late (a starved host, a slow link), up to kMaxStretch x dead_after. A rank
// that never lagged is judged as fast as before; one that did gets what its own history says it needs.
constexpr int kMaxStretch = 3;
constexpr size_t kGapHistory = 32;

Clock::duration silence_limit(const std::array<Clock::duration, kGapHistory>& gaps, Clock::duration dead_after) {
  const Clock::duration worst = *std::max_element(gaps.begin(), gaps.end());
  return std::clamp<Clock::duration>(2 * worst, dead_after, kMaxStretch * dead_after);
}
using detail::who;

detail::SharedFrame abort_frame(const std::string& reason) {
  return detail::FrameWriter(detail::MsgType::kAbort).str(reason).shared();
}

detail::SharedFrame stop_frame(int signo) {
  return detail::FrameWriter(detail::MsgType::kStop).u8(static_cast<uint8_t>(signo)).shared();
}

}  // namespace

ControlPlaneOptions ControlPlaneOptions::from_env() {
  ControlPlaneOptions o;
  o.heartbeat_period = std::chrono::milliseconds(env_long(knob::kHeartbeatPeriodMs));
  o.dead_after = std::chrono::milliseconds(env_long(knob::kHeartbeatTimeoutMs));
  if (o.heartbeat_period.count() <= 0 || o.dead_after <= o.heartbeat_period)
    throw UsageError(std::string(knob::kHeartbeatPeriodMs.name) + "=" + std::to_string(o.heartbeat_period.count()) +
                     " and " + knob::kHeartbeatTimeoutMs.name + "=" + std::to_string(o.dead_after.count()) +
                     ": need 0 < period < timeout (a few periods, so one late heartbeat is not a death)");
  return o;
}

struct ControlPlaneServer::State : detail::PeerEvents {
  explicit State(ControlPlaneOptions o) : options(o) {}

  struct Rank {
    uint64_t session = 0;
    std::string host;
    int64_t step = 0;
    Clock::time_point last;
    RankStatus::State state = RankStatus::State::kAlive;
    std::array<Clock::duration, kGapHistory> gaps{};  // between its last heartbeats (a ring)
    size_t next_gap = 0;
  };

  // ---- PeerEvents: io thread ----
  void on_hello(const PeerInfo& p) override {
    std::lock_guard<std::mutex> lock(mu);
    if (aborted && store) store->post_send(p.session, abort_frame(reason));  // a latecomer still learns
    if (stop_signal && store && p.role == detail::Role::kMonitor) store->post_send(p.session, stop_frame(stop_signal));
    if (p.rank < 0) return;
    Rank& r = ranks[static_cast<int>(p.rank)];
    if (r.session != 0 && r.state == RankStatus::State::kAlive)
      log::warn("control plane: " + who(static_cast<int>(p.rank), p.host) +
                " connected again; tracking the new connection (two processes with one rank?)");
    r = Rank{p.session, p.host, 0, Clock::now(), RankStatus::State::kAlive};
  }

  void on_heartbeat(const PeerInfo& p, int64_t step) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = ranks.find(static_cast<int>(p.rank));
    if (it == ranks.end() || it->second.session != p.session) return;
    Rank& r = it->second;
    const auto now = Clock::now();
    r.gaps[r.next_gap++ % kGapHistory] = now - r.last;
    r.step = step;
    r.last = now;
  }

  void on_abort(const PeerInfo& p, const std::string& why, int cause) override {
    std::lock_guard<std::mutex> lock(mu);
    const int rank = static_cast<int>(p.rank);
    auto it = ranks.find(rank);
    const int64_t step = it != ranks.end() ? it->second.step : 0;
    RankFailure f{RankFailure::Kind::kRankAborted, rank, p.host, step, detail::rank_aborted(rank, p.host, step, why)};
    f.cause = static_cast<ExitCode>(cause);
    fail_locked(std::move(f), p.session);
  }

  void on_close(const PeerInfo& p, bool goodbye) override {
    std::lock_guard<std::mutex> lock(mu);
    const int rank = static_cast<int>(p.rank);
    auto it = ranks.find(rank);
    if (it == ranks.end() || it->second.session != p.session) return;  // a replaced connection
    Rank& r = it->second;
    if (r.state != RankStatus::State::kAlive) return;
    if (goodbye) {
      r.state = RankStatus::State::kFinished;
      log::debug("control plane: " + who(rank, r.host) + " said GOODBYE at step " + std::to_string(r.step));
      return;
    }
    r.state = RankStatus::State::kDead;
    fail_locked(RankFailure{RankFailure::Kind::kConnectionClosed, rank, r.host, r.step,
                            detail::rank_exited(rank, r.host, r.step)},
                p.session);
  }

  // ---- watchdog thread, under mu ----
  // A rank past its limit while no rank has been heard for half of its own is more likely this process starved (an
  // overloaded host) than every rank hung at once: they get until kMaxStretch x dead_after before they are declared
  // dead (a whole-job hang). Among ranks that are heard, a silent one is declared at its limit.
  bool observer_suspect_locked(Clock::time_point now) {
    size_t alive = 0, quiet = 0, over = 0;
    for (const auto& [rank, r] : ranks) {
      if (r.state != RankStatus::State::kAlive) continue;
      ++alive;
      const Clock::duration limit = silence_limit(r.gaps, options.dead_after);
      if (now - r.last > limit / 2) ++quiet;
      if (now - r.last > limit) ++over;
      if (now - r.last > kMaxStretch * options.dead_after) return false;
    }
    if (alive < 2 || over == 0 || quiet < alive) {
      suspect_warned = false;
      return false;
    }
    if (!suspect_warned)
      log::warn("control plane: every rank fell silent at once; suspecting this host (overloaded?) rather than all " +
                std::to_string(alive) + " ranks, and giving them up to " +
                seconds_text(kMaxStretch * options.dead_after) + " of silence");
    suspect_warned = true;
    return true;
  }

  void check_heartbeats_locked(Clock::time_point now) {
    if (observer_suspect_locked(now)) return;
    std::optional<RankFailure> first;
    std::string others;
    for (auto& [rank, r] : ranks) {
      if (r.state != RankStatus::State::kAlive || now - r.last <= silence_limit(r.gaps, options.dead_after)) continue;
      r.state = RankStatus::State::kDead;
      const std::string text = detail::rank_went_silent(rank, r.host, r.step, now - r.last);
      if (!first)
        first = RankFailure{RankFailure::Kind::kHeartbeatLost, rank, r.host, r.step, text};
      else
        others += "; " + text;  // several ranks at once (a whole node): name them all
    }
    if (!first) return;
    first->reason += others;
    fail_locked(*first, 0);
  }

  // The first failure aborts the job; later ones are consequences and only logged.
  void fail_locked(RankFailure f, uint64_t except_session) {
    if (aborted) {
      log::warn("control plane: after the abort: " + f.reason);
      return;
    }
    aborted = true;
    reason = f.reason;
    log::error("control plane: " + f.reason + "; aborting the job");
    if (store) store->post_broadcast(abort_frame(reason), except_session);
    report = std::move(f);
    cv.notify_all();
  }

  ControlPlaneOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  StoreServer::Impl* store = nullptr;  // null until the store listens, and again while it shuts down
  bool stop = false;
  std::map<int, Rank> ranks;
  bool aborted = false;
  std::string reason;
  int stop_signal = 0;  // request_stop() was called
  bool suspect_warned = false;  // observer_suspect_locked() said so for the current silence
  std::function<void(const RankFailure&)> callback;
  std::optional<RankFailure> report;  // waiting for the watchdog to hand it to `callback`
};

ControlPlaneServer::ControlPlaneServer(StoreServerOptions store, ControlPlaneOptions options)
    : state_(std::make_shared<State>(options)) {
  if (options.dead_after.count() <= 0) throw UsageError("control plane: the heartbeat timeout must be positive");
  store_.reset(new StoreServer(std::move(store), state_));
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->store = store_->impl_.get();
    if (state_->aborted) state_->store->post_broadcast(abort_frame(state_->reason), 0);
  }
  watchdog_ = std::thread([this] { watchdog(); });
  log::debug("control plane: serving on " + store_->address() + ":" + std::to_string(store_->port()) +
             ", ranks are dead after " + detail::format_duration(options.dead_after) + " without a heartbeat");
}

ControlPlaneServer::~ControlPlaneServer() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
    state_->store = nullptr;
  }
  state_->cv.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  store_.reset();
}

void ControlPlaneServer::watchdog() {
  State& s = *state_;
  // Check a few times per timeout so detection lands within ~1.25 x dead_after.
  const auto tick = std::clamp<std::chrono::milliseconds>(s.options.dead_after / 4, std::chrono::milliseconds(10),
                                                          std::chrono::milliseconds(250));
  std::unique_lock<std::mutex> lock(s.mu);
  auto last_tick = Clock::now();
  while (!s.stop) {
    s.cv.wait_for(lock, tick);
    if (s.stop) break;
    const auto now = Clock::now();
    if (now - last_tick > s.options.dead_after) {
      // This process was frozen (SIGSTOP, a paused VM, swap): nobody could be heard, so nobody is to blame yet.
      log::warn("control plane: the server was unresponsive for " + seconds_text(now - last_tick) +
                "; restarting heartbeat timers");
      for (auto& [rank, r] : s.ranks) r.last = now;
    }
    last_tick = now;
    s.check_heartbeats_locked(now);
    if (s.report && s.callback) {
      const RankFailure f = std::move(*s.report);
      s.report.reset();
      auto callback = s.callback;
      lock.unlock();  // the launcher's callback may take its time (tearing processes down)
      callback(f);
      lock.lock();
    }
  }
}

uint16_t ControlPlaneServer::port() const { return store_->port(); }
const std::string& ControlPlaneServer::address() const { return store_->address(); }
const std::string& ControlPlaneServer::token() const { return store_->token(); }

void ControlPlaneServer::on_rank_failure(std::function<void(const RankFailure&)> callback) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->callback = std::move(callback);
  state_->cv.notify_all();  // a failure already waiting is delivered on the next tick
}

void ControlPlaneServer::abort(const std::string& reason) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->aborted) return;
  state_->aborted = true;
  state_->reason = reason;
  log::error("control plane: aborting the job: " + reason);
  if (state_->store) state_->store->post_broadcast(abort_frame(reason), 0);
}

void ControlPlaneServer::request_stop(int signo) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->stop_signal != 0 || state_->aborted) return;
  state_->stop_signal = signo;
  log::info("control plane: asking every rank to stop after an agreed step (" + signal_name(signo) + ")");
  if (state_->store) state_->store->post_broadcast(stop_frame(signo), 0);
}

bool ControlPlaneServer::aborted() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->aborted;
}

std::string ControlPlaneServer::abort_reason() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->reason;
}

std::vector<RankStatus> ControlPlaneServer::ranks() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const auto now = Clock::now();
  std::vector<RankStatus> out;
  for (const auto& [rank, r] : state_->ranks)
    out.push_back(RankStatus{rank, r.host, r.step,
                             std::chrono::duration_cast<std::chrono::milliseconds>(now - r.last), r.state});
  return out;
}

}  // namespace kiln::cluster
