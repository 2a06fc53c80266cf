// ABORT: from a crashed rank (connection closed without GOODBYE), from a rank that hit an error, from the server;
// delivered once per client, to latecomers too, and when the server itself disappears.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>
#include <memory>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// These tests are about ABORT, not heartbeats: keep heartbeat deaths out of the way.
ControlPlaneOptions options() { return fast_heartbeats(5s); }

std::unique_ptr<ControlPlaneClient> rank(const ControlPlaneServer& server, int r, const std::string& host) {
  return connect_rank(server, r, host, options());
}

}  // namespace

TEST(ControlPlaneAbort, ConnectionClosedWithoutGoodbyeAbortsTheOthers) {
  ControlPlaneServer server(server_options(), options());
  std::atomic<int> kind{-1};
  server.on_rank_failure([&](const RankFailure& f) { kind = static_cast<int>(f.kind); });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  auto r2 = rank(server, 2, "node03");
  r1->set_step(7);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 1, 7); }));
  r1->drop_connection_for_testing();
  ASSERT_TRUE(eventually([&] { return r0->aborted() && r2->aborted(); }));
  EXPECT_EQ(r0->abort_reason(), "rank 1 (host node02) exited (connection closed) at step 7");
  EXPECT_EQ(r2->abort_reason(), r0->abort_reason());
  EXPECT_TRUE(eventually([&] { return kind.load() == static_cast<int>(RankFailure::Kind::kConnectionClosed); }));
}

TEST(ControlPlaneAbort, RankInitiatedAbortReachesEveryOtherRank) {
  ControlPlaneServer server(server_options(), options());
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  auto r2 = rank(server, 2, "node03");
  std::atomic<int> own_calls{0};
  r2->on_abort([&](const std::string&) { ++own_calls; });
  r2->set_step(3);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 2, 3); }));
  r2->abort("CUDA error: out of memory");
  EXPECT_TRUE(r2->aborted());
  ASSERT_TRUE(eventually([&] { return r0->aborted() && r1->aborted(); }));
  for (auto* c : {r0.get(), r1.get()})
    EXPECT_EQ(c->abort_reason(), "rank 2 (host node03) aborted at step 3: CUDA error: out of memory");
  EXPECT_EQ(own_calls.load(), 0);  // the aborting rank already knows
  EXPECT_TRUE(contains(server.abort_reason(), "CUDA error: out of memory"));
}

// The step in the message is the rank's step when it aborted, not the one of its last heartbeat (up to a period old).
TEST(ControlPlaneAbort, RankInitiatedAbortNamesTheStepTheRankIsAt) {
  ControlPlaneServer server(server_options(), options());
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 1, 0); }));
  r1->stop_heartbeats_for_testing();
  r1->set_step(12);
  r1->abort("train-labels-idx1-ubyte record 17: label 200");
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  EXPECT_EQ(r0->abort_reason(),
            "rank 1 (host node02) aborted at step 12: train-labels-idx1-ubyte record 17: label 200");
}

// The launcher learns what kind of error ended the job, so a data error exits 3 rather than "a rank failed".
TEST(ControlPlaneAbort, TheRanksCauseReachesTheLauncher) {
  ControlPlaneServer server(server_options(), options());
  std::mutex mu;
  std::vector<RankFailure> seen;
  server.on_rank_failure([&](const RankFailure& f) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(f);
  });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  r1->abort_with_cause("train-labels-idx1-ubyte record 17: label 200", kiln::ExitCode::kData);
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !seen.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.front().cause, kiln::ExitCode::kData);
  EXPECT_EQ(seen.front().kind, RankFailure::Kind::kRankAborted);
}

TEST(ControlPlaneAbort, ServerAbortReachesAllRanks) {
  ControlPlaneServer server(server_options(), options());
  std::atomic<int> failures{0};
  server.on_rank_failure([&](const RankFailure&) { ++failures; });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  server.abort("the launcher received SIGINT");
  ASSERT_TRUE(eventually([&] { return r0->aborted() && r1->aborted(); }));
  EXPECT_EQ(r0->abort_reason(), "the launcher received SIGINT");
  EXPECT_EQ(failures.load(), 0);
}

TEST(ControlPlaneAbort, CallbackRunsOnceEvenWhenSeveralRanksFail) {
  ControlPlaneServer server(server_options(), options());
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  auto r2 = rank(server, 2, "node03");
  std::atomic<int> calls{0};
  r0->on_abort([&](const std::string&) { ++calls; });
  r1->drop_connection_for_testing();
  r2->drop_connection_for_testing();
  ASSERT_TRUE(eventually([&] { return calls.load() >= 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(contains(r0->abort_reason(), "exited (connection closed)")) << r0->abort_reason();
}

TEST(ControlPlaneAbort, HookRegisteredAfterTheAbortStillRuns) {
  ControlPlaneServer server(server_options(), options());
  auto r0 = rank(server, 0, "node01");
  server.abort("stop");
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  std::string got;
  r0->on_abort([&](const std::string& reason) { got = reason; });  // runs right here, synchronously
  EXPECT_EQ(got, "stop");
}

TEST(ControlPlaneAbort, RankThatConnectsAfterTheAbortIsToldToo) {
  ControlPlaneServer server(server_options(), options());
  server.abort("rank 3 (host node04) exited (connection closed) at step 9");
  auto late = rank(server, 0, "node01");
  ASSERT_TRUE(eventually([&] { return late->aborted(); }));
  EXPECT_EQ(late->abort_reason(), "rank 3 (host node04) exited (connection closed) at step 9");
}

TEST(ControlPlaneAbort, LosingTheServerAbortsTheRank) {
  auto server = std::make_unique<ControlPlaneServer>(server_options(), options());
  auto r0 = rank(*server, 0, "node01");
  const std::string where = "127.0.0.1:" + std::to_string(server->port());
  server.reset();
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  EXPECT_TRUE(contains(r0->abort_reason(), "lost the connection to the control plane server at " + where))
      << r0->abort_reason();
}

TEST(ControlPlaneAbort, ClosingInsideTheHookDoesNotDeadlock) {
  ControlPlaneServer server(server_options(), options());
  auto r0 = rank(server, 0, "node01");
  std::atomic<bool> ran{false};
  r0->on_abort([&](const std::string&) {
    r0->close();  // the trainer's hook may shut the control plane down
    ran = true;
  });
  server.abort("stop");
  ASSERT_TRUE(eventually([&] { return ran.load(); }));
  r0.reset();  // joins the finished thread
  EXPECT_FALSE(server.ranks().empty());
}
