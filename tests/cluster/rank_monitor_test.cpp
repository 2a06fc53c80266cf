// ABORT as a rank's RankMonitor sees it, run against the TCP control plane (ControlPlaneServer + one
// ControlPlaneClient per rank) and LocalControlPlane: the same rules and the same words. The TCP plane delivers on
// its own thread, so arrivals are polled (eventually); the local one delivers before abort() returns.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <ostream>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/local_control_plane.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// A control plane for a test: monitors for ranks, and the server side's abort and crash.
class PlaneWorld {
 public:
  virtual ~PlaneWorld() = default;
  virtual std::unique_ptr<RankMonitor> join(int rank, const std::string& host) = 0;
  virtual void abort(const std::string& reason) = 0;  // from outside the ranks (the launcher)
  virtual void crash(int rank) = 0;                   // rank's monitor goes away without GOODBYE
  virtual bool saw_step(int rank, int64_t step) = 0;  // the plane knows rank is at `step`
};

class TcpPlane : public PlaneWorld {
 public:
  std::unique_ptr<RankMonitor> join(int rank, const std::string& host) override {
    auto client = connect_rank(server_, rank, host, fast_heartbeats(5s));  // heartbeat deaths kept out of the way
    clients_[rank] = client.get();
    return client;
  }
  void abort(const std::string& reason) override { server_.abort(reason); }
  void crash(int rank) override { clients_.at(rank)->drop_connection_for_testing(); }
  bool saw_step(int rank, int64_t step) override { return server_sees_step(server_, rank, step); }

 private:
  ControlPlaneServer server_{server_options(), fast_heartbeats(5s)};
  std::map<int, ControlPlaneClient*> clients_;
};

class LocalPlane : public PlaneWorld {
 public:
  std::unique_ptr<RankMonitor> join(int rank, const std::string& host) override { return plane_.join(rank, host); }
  void abort(const std::string& reason) override { plane_.abort(reason); }
  void crash(int rank) override { plane_.exited(rank); }
  bool saw_step(int, int64_t) override { return true; }  // set_step is a store the plane reads directly

 private:
  LocalControlPlane plane_;
};

struct PlaneKind {
  const char* name;
  std::function<std::unique_ptr<PlaneWorld>()> make;
};
void PrintTo(const PlaneKind& kind, std::ostream* os) { *os << kind.name; }  // test names, not bytes

class AbortBehaviour : public ::testing::TestWithParam<PlaneKind> {
 protected:
  void SetUp() override { plane = GetParam().make(); }
  std::unique_ptr<PlaneWorld> plane;
};

}  // namespace

TEST_P(AbortBehaviour, ARanksAbortReachesEveryOtherRankNamingIt) {
  auto r0 = plane->join(0, "node01");
  auto r1 = plane->join(1, "node02");
  auto r2 = plane->join(2, "node03");
  std::atomic<int> own_calls{0}, other_calls{0};
  r2->on_abort([&](const std::string&) { ++own_calls; });
  r0->on_abort([&](const std::string&) { ++other_calls; });
  r2->set_step(3);
  ASSERT_TRUE(eventually([&] { return plane->saw_step(2, 3); }));
  r2->abort("CUDA error: out of memory");
  EXPECT_TRUE(r2->aborted());
  EXPECT_EQ(r2->abort_reason(), "CUDA error: out of memory");
  ASSERT_TRUE(eventually([&] { return r0->aborted() && r1->aborted(); }));
  for (auto* m : {r0.get(), r1.get()})
    EXPECT_EQ(m->abort_reason(), "rank 2 (host node03) aborted at step 3: CUDA error: out of memory");
  EXPECT_TRUE(eventually([&] { return other_calls.load() == 1; }));
  EXPECT_EQ(own_calls.load(), 0);  // the aborting rank already knows
}

TEST_P(AbortBehaviour, APlaneAbortReachesAllRanksAsGiven) {
  auto r0 = plane->join(0, "node01");
  auto r1 = plane->join(1, "node02");
  plane->abort("the launcher received SIGINT");
  ASSERT_TRUE(eventually([&] { return r0->aborted() && r1->aborted(); }));
  EXPECT_EQ(r0->abort_reason(), "the launcher received SIGINT");
  EXPECT_EQ(r1->abort_reason(), "the launcher received SIGINT");
}

TEST_P(AbortBehaviour, ACrashedRankAbortsTheOthers) {
  auto r0 = plane->join(0, "node01");
  auto r1 = plane->join(1, "node02");
  r1->set_step(7);
  ASSERT_TRUE(eventually([&] { return plane->saw_step(1, 7); }));
  plane->crash(1);
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  EXPECT_EQ(r0->abort_reason(), "rank 1 (host node02) exited (connection closed) at step 7");
}

TEST_P(AbortBehaviour, TheFirstFailureWinsAndTheHookRunsOnce) {
  auto r0 = plane->join(0, "node01");
  auto r1 = plane->join(1, "node02");
  auto r2 = plane->join(2, "node03");
  std::atomic<int> calls{0};
  r0->on_abort([&](const std::string&) { ++calls; });
  r1->abort("first");
  ASSERT_TRUE(eventually([&] { return r2->aborted(); }));
  r2->abort("second");  // a consequence: not re-broadcast
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  EXPECT_EQ(r0->abort_reason(), "rank 1 (host node02) aborted at step 0: first");
  EXPECT_EQ(r2->abort_reason(), r0->abort_reason());  // its own abort came after: the first reason stays
  std::this_thread::sleep_for(200ms);  // room for a wrong second delivery to show
  EXPECT_EQ(calls.load(), 1);
}

TEST_P(AbortBehaviour, AHookRegisteredAfterTheAbortRunsAtOnce) {
  auto r0 = plane->join(0, "node01");
  auto r1 = plane->join(1, "node02");
  r1->abort("disk full");
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  std::string heard;
  r0->on_abort([&](const std::string& reason) { heard = reason; });
  EXPECT_EQ(heard, "rank 1 (host node02) aborted at step 0: disk full");
}

TEST_P(AbortBehaviour, ARankThatJoinsLateStillLearns) {
  auto r0 = plane->join(0, "node01");
  plane->abort("too late to start");
  auto r1 = plane->join(1, "node02");
  EXPECT_TRUE(eventually([&] { return r1->aborted(); }));
  EXPECT_EQ(r1->abort_reason(), "too late to start");
}

TEST_P(AbortBehaviour, ARankThatClosedHearsNothingMore) {
  auto r0 = plane->join(0, "node01");
  auto r1 = plane->join(1, "node02");
  std::atomic<int> calls{0};
  r1->on_abort([&](const std::string&) { ++calls; });
  r1->close();  // a clean exit is not a failure...
  plane->abort("the launcher received SIGINT");
  ASSERT_TRUE(eventually([&] { return r0->aborted(); }));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(r1->aborted());  // ...and a finished rank is not told about later ones
  EXPECT_EQ(calls.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Planes, AbortBehaviour,
    ::testing::Values(PlaneKind{"Tcp", [] { return std::unique_ptr<PlaneWorld>(new TcpPlane); }},
                      PlaneKind{"Local", [] { return std::unique_ptr<PlaneWorld>(new LocalPlane); }}),
    [](const ::testing::TestParamInfo<PlaneKind>& info) { return std::string(info.param.name); });
