// Distributed in one process: ranks as threads, each with a thread-backend communicator and a monitor from a control
// plane (LocalControlPlane, or the real TCP one on the loopback), the NCCL id rendezvous over a HashStore. What a
// multi-process job relies on: collectives agree, rank 0's id reaches everyone, and one rank's failure stops the
// others with exit code 4 naming it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/hash_store.h"
#include "kiln/cluster/local_control_plane.h"
#include "kiln/cluster/prefix_store.h"
#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"
#include "kiln/runtime/distributed.h"

namespace kiln::runtime {
namespace {

using namespace std::chrono_literals;
constexpr auto kLong = 30s;  // "must happen" limits, not performance assertions

cluster::RankInfo rank_info(int rank, int world_size) {
  cluster::RankInfo r;
  r.rank = r.local_rank = rank;
  r.world_size = r.local_world_size = world_size;
  r.source = "test";
  return r;
}

// Polls `pred` every 10 ms until it holds or `limit` passes (then one last try decides).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = kLong) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// Where the ranks' monitors come from.
class Plane {
 public:
  virtual ~Plane() = default;
  virtual std::unique_ptr<cluster::RankMonitor> join(int rank) = 0;  // on host "node0<rank>"
  virtual bool saw_step(int rank, int64_t step) const = 0;           // failure messages will name `step`
};

class LocalPlane : public Plane {
 public:
  std::unique_ptr<cluster::RankMonitor> join(int rank) override {
    return plane_.join(rank, "node0" + std::to_string(rank));
  }
  bool saw_step(int, int64_t) const override { return true; }  // the local plane reads the step directly

 private:
  cluster::LocalControlPlane plane_;
};

class TcpPlane : public Plane {
 public:
  TcpPlane() : server_(options(), heartbeats()) {}
  std::unique_ptr<cluster::RankMonitor> join(int rank) override {
    cluster::StoreClientOptions o;
    o.port = server_.port();
    o.token = server_.token();
    o.rank = rank;
    o.peer_host = "node0" + std::to_string(rank);
    return std::make_unique<cluster::ControlPlaneClient>(o, heartbeats());
  }
  // The step travels in heartbeats, so the server learns it up to a period later.
  bool saw_step(int rank, int64_t step) const override {
    for (const auto& s : server_.ranks())
      if (s.rank == rank && s.step == step) return true;
    return false;
  }

 private:
  // Frequent heartbeats; a rank is declared dead only after 30 s of silence, far beyond these tests.
  static cluster::ControlPlaneOptions heartbeats() {
    cluster::ControlPlaneOptions o;
    o.heartbeat_period = 50ms;
    o.dead_after = kLong;
    return o;
  }
  static cluster::StoreServerOptions options() {
    cluster::StoreServerOptions o;
    o.address = "127.0.0.1";
    o.token = cluster::make_job_token();
    return o;
  }
  cluster::ControlPlaneServer server_;
};

struct PlaneKind {
  const char* name;
  std::function<std::unique_ptr<Plane>()> make;
};
void PrintTo(const PlaneKind& kind, std::ostream* os) { *os << kind.name; }  // test names, not bytes

// Runs body(dist) on one thread per rank, each with its own Distributed; rethrows the first rank's exception.
void run_ranks(Plane& plane, int world_size, const std::function<void(Distributed&)>& body) {
  auto comms = collectives::make_thread_world(world_size);
  std::vector<std::unique_ptr<cluster::RankMonitor>> monitors;
  for (int r = 0; r < world_size; ++r) monitors.push_back(plane.join(r));
  std::vector<std::exception_ptr> errors(world_size);
  std::vector<std::thread> threads;
  for (int r = 0; r < world_size; ++r)
    threads.emplace_back([&, r] {
      try {
        Distributed dist(rank_info(r, world_size), std::move(comms[r]), std::move(monitors[r]));
        body(dist);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

class DistributedInProcess : public ::testing::TestWithParam<PlaneKind> {
 protected:
  void SetUp() override { plane = GetParam().make(); }
  std::unique_ptr<Plane> plane;
};

TEST_P(DistributedInProcess, SumAverageAndBarrierAgreeAcrossRanks) {
  constexpr int kRanks = 3;
  std::vector<double> sums(kRanks), averages(kRanks);
  std::vector<int64_t> counts(kRanks);
  run_ranks(*plane, kRanks, [&](Distributed& dist) {
    const int r = dist.rank();
    at::Tensor loss = at::full({2}, r + 1.0, at::kDouble);
    dist.sum(loss);  // 1 + 2 + 3
    at::Tensor seen = at::full({1}, int64_t{10} * (r + 1), at::kLong);
    dist.sum(seen);  // 10 + 20 + 30
    at::Tensor running_mean = at::full({4}, static_cast<float>(r), at::kFloat);
    at::Tensor steps = at::full({1}, int64_t{r}, at::kLong);  // not floating point: left alone
    dist.average({running_mean, steps});
    dist.barrier();
    sums[r] = loss[1].item<double>();
    counts[r] = seen.item<int64_t>() + steps.item<int64_t>() * 1000;
    averages[r] = running_mean[3].item<float>();
    dist.check();  // nobody failed
  });
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_DOUBLE_EQ(sums[r], 6.0) << "rank " << r;
    EXPECT_EQ(counts[r], 60 + r * 1000) << "rank " << r;
    EXPECT_FLOAT_EQ(averages[r], 1.0f) << "rank " << r;
  }
}

TEST_P(DistributedInProcess, OneRanksAbortStopsTheOthersNamingIt) {
  constexpr int kRanks = 3;
  std::vector<std::string> collective_error(kRanks), check_error(kRanks);
  std::vector<ExitCode> check_code(kRanks, ExitCode::kOk);
  run_ranks(*plane, kRanks, [&](Distributed& dist) {
    const int r = dist.rank();
    dist.set_step(5);
    dist.barrier();  // everyone is up and at step 5
    if (r == 1) {
      EXPECT_TRUE(eventually([&] { return plane->saw_step(1, 5); }));  // abort regardless: others wait on it
      dist.abort_job("CUDA error: out of memory");
      return;
    }
    // The others wait in a collective rank 1 never joins: the abort must end the wait, not a timeout.
    try {
      at::Tensor t = at::ones({8});
      dist.sum(t);
      collective_error[r] = "(the all-reduce completed)";
    } catch (const std::exception& e) {
      collective_error[r] = e.what();
    }
    // The TCP plane delivers on its own thread: by then or soon after, check() must name the culprit.
    eventually([&] {
      try {
        dist.check();
        return false;
      } catch (const Error& e) {
        check_error[r] = e.what();
        check_code[r] = e.code();
        return true;
      }
    });
  });
  for (int r : {0, 2}) {
    EXPECT_NE(collective_error[r], "(the all-reduce completed)") << "rank " << r;
    EXPECT_FALSE(collective_error[r].empty()) << "rank " << r;
    EXPECT_EQ(check_error[r], "job aborted: rank 1 (host node01) aborted at step 5: CUDA error: out of memory")
        << "rank " << r;
    EXPECT_EQ(check_code[r], ExitCode::kRankFailed) << "rank " << r;
  }
}

TEST_P(DistributedInProcess, AnAbortUnblocksRanksWaitingInACollective) {
  // Ranks 0 and 1 wait in a barrier of three; rank 2 fails before it gets there and aborts through its monitor
  // alone. Nobody aborts a communicator directly: only the monitors' hooks in Distributed can end the wait.
  constexpr int kWorld = 3;
  auto comms = collectives::make_thread_world(kWorld);
  std::vector<std::unique_ptr<cluster::RankMonitor>> monitors;
  for (int r = 0; r < kWorld; ++r) monitors.push_back(plane->join(r));
  std::vector<std::string> errors(2), checks(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      Distributed dist(rank_info(r, kWorld), std::move(comms[r]), std::move(monitors[r]));
      try {
        collectives::wait_ok(dist.comm()->barrier(), kLong);  // bounded: a missing abort fails, not hangs
        errors[r] = "(the barrier completed)";
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
      eventually([&] {
        try {
          dist.check();
          return false;
        } catch (const Error& e) {
          checks[r] = e.what();
          return e.code() == ExitCode::kRankFailed;
        }
      });
    });
  std::this_thread::sleep_for(100ms);  // lets them block first; if they have not yet, the abort still stops them
  monitors[2]->abort("stuck in data loading");
  for (auto& t : threads) t.join();
  const std::string reason = "rank 2 (host node02) aborted at step 0: stuck in data loading";
  for (int r = 0; r < 2; ++r) {
    EXPECT_NE(errors[r].find(reason), std::string::npos) << "rank " << r << ": " << errors[r];
    EXPECT_EQ(checks[r], "job aborted: " + reason) << "rank " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Distributed, DistributedInProcess,
    ::testing::Values(PlaneKind{"Local", [] { return std::unique_ptr<Plane>(new LocalPlane); }},
                      PlaneKind{"Tcp", [] { return std::unique_ptr<Plane>(new TcpPlane); }}),
    [](const ::testing::TestParamInfo<PlaneKind>& info) { return std::string(info.param.name); });

TEST(DistributedRendezvous, RankZeroHandsItsNcclIdToEveryRankOverAHashStore) {
  cluster::HashStore store;
  std::string id(128, '\0');  // NCCL ids are raw bytes, NULs included
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>((i * 37) & 0xff);
  std::atomic<int> made{0};
  std::vector<std::string> got(4);
  std::vector<std::thread> ranks;
  for (int r = 3; r >= 0; --r)  // the others may ask before rank 0 has set it
    ranks.emplace_back([&, r] {
      cluster::HashStore mine = store.handle(r);
      got[r] = share_nccl_unique_id(mine, r, [&] {
        ++made;
        return id;
      });
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < 4; ++r) EXPECT_EQ(got[r], id) << "rank " << r;
  EXPECT_EQ(made.load(), 1);  // only rank 0 makes one
}

TEST(DistributedRendezvous, EachCommunicatorsIdLivesInItsOwnNamespace) {
  cluster::HashStore store;
  cluster::PrefixStore first("comm-0", store), second("comm-1", store);
  share_nccl_unique_id(first, 0, [] { return std::string("id of comm 0"); });
  share_nccl_unique_id(second, 0, [] { return std::string("id of comm 1"); });
  cluster::HashStore rank1 = store.handle(1);
  cluster::PrefixStore first1("comm-0", rank1), second1("comm-1", rank1);
  EXPECT_EQ(share_nccl_unique_id(first1, 1), "id of comm 0");
  EXPECT_EQ(share_nccl_unique_id(second1, 1), "id of comm 1");
}

TEST(DistributedRendezvous, AMissingRootTimesOutNamingTheKey) {
  cluster::HashStore store(2);
  try {
    share_nccl_unique_id(store, 2, {}, 200ms);
    FAIL() << "rank 2 got an id nobody made";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "store get 'kiln/nccl_unique_id' timed out after 200 ms: no rank has set that key (rank 2, store "
              "in-memory)");
    EXPECT_EQ(e.code(), ExitCode::kRankFailed);
  }
}

// A TCP port nobody listened on a moment ago.
uint16_t recently_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

// Ranks that torchrun started, with neither MPI nor kiln's launcher, through the real constructor: rank 0 serves
// torch's own TCPStore at MASTER_ADDR:MASTER_PORT (c10d, from LibTorch), announces its control plane there, and the
// ranks sum over Gloo. The one place kiln uses LibTorch's distributed store, whose options differ in 2.x (libuv:
// kiln/common/torch_compat.h). Needs no KILN_CPU_BACKEND=mpi, KILN_MASTER_ADDR/PORT or KILN_JOB_TOKEN around it.
TEST(DistributedTorchrun, RanksFindRankZeroThroughTorchsStoreAndSumOverGloo) {
  if (!collectives::gloo_available()) GTEST_SKIP() << "built without Gloo (libgloo-dev)";
  constexpr int kRanks = 2;
  const uint16_t port = recently_free_port();
  ASSERT_NE(port, 0);
  std::vector<double> sums(kRanks);
  std::vector<std::exception_ptr> errors(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r)
    threads.emplace_back([&, r] {
      try {
        cluster::RankInfo info = rank_info(r, kRanks);
        info.source = "torchrun";
        info.master_addr = "127.0.0.1";
        info.master_port = port;
        Distributed dist(info);
        ASSERT_NE(dist.comm(), nullptr);
        at::Tensor t = at::full({1}, r + 1.0, at::kDouble);
        dist.sum(t);
        sums[r] = t.item<double>();
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) {
    if (errors[r]) {
      try {
        std::rethrow_exception(errors[r]);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "rank " << r << ": " << e.what();
      }
    }
    EXPECT_DOUBLE_EQ(sums[r], 3.0) << "rank " << r;
  }
}

}  // namespace
}  // namespace kiln::runtime
