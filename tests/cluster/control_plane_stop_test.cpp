// STOP: the launcher asks every rank to stop gracefully (it got SIGINT, SIGTERM or Slurm's SIGUSR1). Every connected
// rank hears it once, with the signal; a rank that connects later hears it at once; it is not a failure.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

TEST(ControlPlaneStop, EveryRankHearsTheSignalOnceAndLatecomersToo) {
  ControlPlaneServer server(server_options(), fast_heartbeats(5s));
  std::atomic<bool> failed{false};
  server.on_rank_failure([&](const RankFailure&) { failed = true; });
  auto r0 = connect_rank(server, 0, "node01", fast_heartbeats(5s));
  auto r1 = connect_rank(server, 1, "node02", fast_heartbeats(5s));
  std::atomic<int> heard0{0}, heard1{0}, calls{0};
  r0->on_stop([&](int signo) { heard0 = signo, ++calls; });
  r1->on_stop([&](int signo) { heard1 = signo, ++calls; });

  server.request_stop(SIGUSR1);
  server.request_stop(SIGTERM);  // once only: the first request stands
  ASSERT_TRUE(eventually([&] { return heard0.load() == SIGUSR1 && heard1.load() == SIGUSR1; }));

  auto late = connect_rank(server, 2, "node03", fast_heartbeats(5s));
  std::atomic<int> heard_late{0};
  ASSERT_TRUE(eventually([&] {
    late->on_stop([&](int signo) { heard_late = signo; });  // registered after the STOP arrived: called at once
    return heard_late.load() == SIGUSR1;
  }));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_FALSE(server.aborted());
  EXPECT_FALSE(r0->aborted() || r1->aborted() || late->aborted());
  EXPECT_FALSE(failed.load());
}
