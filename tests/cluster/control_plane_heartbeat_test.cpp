// Liveness: a rank whose heartbeats stop is declared dead and every other rank gets ABORT naming it; a rank that
// says GOODBYE is not. Short timeouts, but generous polling limits: nothing here asserts speed.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// Dead after 16 missed beats: a loaded machine does not fake a death.
ControlPlaneOptions fast() { return fast_heartbeats(800ms); }

std::unique_ptr<ControlPlaneClient> rank(const ControlPlaneServer& server, int r, const std::string& host) {
  return connect_rank(server, r, host, fast());
}

}  // namespace

TEST(ControlPlaneHeartbeat, SilentRankAbortsEveryoneElseNamingRankHostAndStep) {
  ControlPlaneServer server(server_options(), fast());
  std::mutex mu;
  std::vector<RankFailure> failures;
  server.on_rank_failure([&](const RankFailure& f) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(f);
  });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  auto r2 = rank(server, 2, "node03");
  std::atomic<int> calls{0};
  std::atomic<bool> on_test_thread{false};
  const auto test_thread = std::this_thread::get_id();
  for (auto* c : {r0.get(), r2.get()})
    c->on_abort([&](const std::string&) {
      ++calls;
      if (std::this_thread::get_id() == test_thread) on_test_thread = true;
    });

  r1->set_step(120);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 1, 120); }));
  r1->stop_heartbeats_for_testing();  // a hung rank: connected, silent

  ASSERT_TRUE(eventually([&] { return r0->aborted() && r2->aborted(); }));
  for (auto* c : {r0.get(), r2.get()}) {
    EXPECT_TRUE(contains(c->abort_reason(), "rank 1 (host node02) stopped sending heartbeats at step 120"))
        << c->abort_reason();
  }
  EXPECT_TRUE(eventually([&] { return calls.load() == 2; }));
  EXPECT_FALSE(on_test_thread);  // delivered on each client's own thread
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !failures.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].kind, RankFailure::Kind::kHeartbeatLost);
  EXPECT_EQ(failures[0].rank, 1);
  EXPECT_EQ(failures[0].host, "node02");
  EXPECT_EQ(failures[0].step, 120);
  EXPECT_TRUE(server.aborted());
  EXPECT_EQ(server.abort_reason(), failures[0].reason);
}

TEST(ControlPlaneHeartbeat, GoodbyeIsACleanExitNotAFailure) {
  ControlPlaneServer server(server_options(), fast());
  std::atomic<int> failures{0};
  server.on_rank_failure([&](const RankFailure&) { ++failures; });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  r1->set_step(5);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 1, 5); }));
  r1->close();
  r1->close();  // idempotent
  r1.reset();
  ASSERT_TRUE(eventually([&] {
    for (const auto& s : server.ranks())
      if (s.rank == 1) return s.state == RankStatus::State::kFinished;
    return false;
  }));
  // Well past the heartbeat timeout: still nobody aborted.
  std::this_thread::sleep_for(3 * fast().dead_after);
  EXPECT_FALSE(r0->aborted()) << r0->abort_reason();
  EXPECT_FALSE(server.aborted()) << server.abort_reason();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ControlPlaneHeartbeat, ServerReportsEveryRanksStep) {
  ControlPlaneServer server(server_options(), fast());
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  r0->set_step(10);
  r1->set_step(11);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 0, 10) && server_sees_step(server, 1, 11); }));
  const auto ranks = server.ranks();
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[1].host, "node02");
  EXPECT_EQ(ranks[1].state, RankStatus::State::kAlive);
}

TEST(ControlPlaneHeartbeat, OptionsFromEnvironment) {
  setenv(kiln::knob::kHeartbeatPeriodMs.name, "200", 1);
  setenv(kiln::knob::kHeartbeatTimeoutMs.name, "900", 1);
  auto o = ControlPlaneOptions::from_env();
  EXPECT_EQ(o.heartbeat_period, 200ms);
  EXPECT_EQ(o.dead_after, 900ms);
  setenv(kiln::knob::kHeartbeatTimeoutMs.name, "100", 1);  // dead before the next beat could arrive
  EXPECT_THROW(ControlPlaneOptions::from_env(), kiln::UsageError);
  unsetenv(kiln::knob::kHeartbeatPeriodMs.name);
  unsetenv(kiln::knob::kHeartbeatTimeoutMs.name);
  o = ControlPlaneOptions::from_env();
  EXPECT_EQ(o.heartbeat_period, kDefaultHeartbeatPeriod);
  EXPECT_EQ(o.dead_after, kDefaultDeadAfter);
}
