// LocalControlPlane: a table of joined monitors under one mutex. Failing the job records the first reason under the
// lock and delivers it to each monitor's AbortLatch outside it, so hooks (which abort communicators) never run
// under the plane's lock.
#include "kiln/cluster/local_control_plane.h"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "abort_latch.h"
#include "failure_reasons.h"
#include "kiln/common/log.h"

namespace kiln::cluster {

struct LocalControlPlane::State {
  struct Member {
    int rank = 0;
    std::string host;
    std::shared_ptr<std::atomic<int64_t>> step;
    std::shared_ptr<detail::AbortLatch> latch;
  };

  // The first failure aborts the job: every member but `except` (the rank that aborted, 0: none) hears `why`.
  // Later failures are consequences, logged only.
  void fail(const std::string& why, uint64_t except) {
    std::vector<std::shared_ptr<detail::AbortLatch>> to_tell;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (aborted) {
        log::warn("control plane: after the abort: " + why);
        return;
      }
      aborted = true;
      reason = why;
      for (const auto& [id, m] : members)
        if (id != except) to_tell.push_back(m.latch);
    }
    log::error("control plane: " + why + "; aborting the job");
    for (const auto& latch : to_tell) latch->deliver(why);
  }

  // A clean exit: the member hears nothing more.
  void leave(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    members.erase(id);
  }

  mutable std::mutex mu;
  std::map<uint64_t, Member> members;  // joined and not closed, by join order
  uint64_t next_id = 1;
  bool aborted = false;
  std::string reason;
};

namespace {

class LocalMonitor final : public RankMonitor {
 public:
  LocalMonitor(std::shared_ptr<LocalControlPlane::State> plane, uint64_t id, LocalControlPlane::State::Member me)
      : plane_(std::move(plane)), id_(id), me_(std::move(me)) {}
  ~LocalMonitor() override { close(); }

  void set_step(int64_t step) override { me_.step->store(step, std::memory_order_relaxed); }
  void on_abort(std::function<void(const std::string&)> callback) override { me_.latch->on_abort(std::move(callback)); }
  bool aborted() const override { return me_.latch->aborted(); }
  std::string abort_reason() const override { return me_.latch->reason(); }

  void abort(const std::string& reason) override {
    me_.latch->abort_self(reason);
    plane_->fail(detail::rank_aborted(me_.rank, me_.host, me_.step->load(std::memory_order_relaxed), reason), id_);
  }

  void close() override {
    plane_->leave(id_);
    me_.latch->disarm();
  }

  int rank() const override { return me_.rank; }

 private:
  std::shared_ptr<LocalControlPlane::State> plane_;
  const uint64_t id_;
  const LocalControlPlane::State::Member me_;
};

}  // namespace

LocalControlPlane::LocalControlPlane() : state_(std::make_shared<State>()) {}
LocalControlPlane::~LocalControlPlane() = default;

std::unique_ptr<RankMonitor> LocalControlPlane::join(int rank, const std::string& host) {
  State::Member me{rank, host, std::make_shared<std::atomic<int64_t>>(0), std::make_shared<detail::AbortLatch>(rank)};
  uint64_t id = 0;
  std::string missed;  // the abort this rank joined too late for
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    id = state_->next_id++;
    state_->members.emplace(id, me);
    if (state_->aborted) missed = state_->reason;
  }
  if (!missed.empty()) me.latch->deliver(missed);
  return std::make_unique<LocalMonitor>(state_, id, std::move(me));
}

void LocalControlPlane::abort(const std::string& reason) { state_->fail(reason, 0); }

void LocalControlPlane::exited(int rank) {
  std::optional<State::Member> gone;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& [i, m] : state_->members)
      if (m.rank == rank) {
        id = i;
        gone = m;
      }
    if (gone) state_->members.erase(id);
  }
  if (!gone) return;
  gone->latch->disarm();  // a crashed rank runs nothing more
  state_->fail(detail::rank_exited(rank, gone->host, gone->step->load(std::memory_order_relaxed)), id);
}

bool LocalControlPlane::aborted() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->aborted;
}

std::string LocalControlPlane::abort_reason() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->reason;
}

}  // namespace kiln::cluster
