// Gloo backend with ranks as threads of this process: each thread rendezvouses through one in-memory store and
// talks to the others over real TCP sockets on loopback. The same correctness matrix as the MPI and thread backends,
// then what is Gloo's own: the rendezvous, a peer that goes away, timeouts. (Across processes and hosts: the
// torchrun tests in tests/CMakeLists.txt and tests/multinode/.)
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "collectives/thread_harness.h"
#include "kiln/cluster/hash_store.h"
#include "kiln/cluster/prefix_store.h"
#include "kiln/common/error.h"

namespace {

using namespace std::chrono_literals;
using kiln_test::ReduceOp;
using kiln_test::WorkPtr;
using kiln_test::WorkStatus;
using Clock = std::chrono::steady_clock;
namespace kc = kiln::collectives;
using kiln::cluster::HashStore;

kc::GlooOptions loopback(std::chrono::milliseconds timeout = 60s) {
  kc::GlooOptions o;
  o.hostname = "127.0.0.1";
  o.timeout = timeout;
  return o;
}

// One thread per rank, each with its own Gloo communicator over one in-memory store; body runs once every rank has
// connected.
void run_gloo_ranks(int n, const std::function<void(kc::Communicator&)>& body,
                    const kc::GlooOptions& options = loopback()) {
  const HashStore store;
  kiln_test::run_rank_threads(n, [&](int r) {
    HashStore mine = store.handle(r);
    auto comm = kc::make_gloo_communicator(mine, r, n, options);
    body(*comm);
  });
}

class GlooBackend : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!kc::gloo_available()) GTEST_SKIP() << "built without Gloo (libgloo-dev)";
  }
};

TEST_P(GlooBackend, AllreduceEveryOpAndDtype) {
  run_gloo_ranks(GetParam(), [](kc::Communicator& c) {
    EXPECT_EQ(c.backend(), "gloo");
    kiln_test::throw_if_failed(kiln_test::check_allreduce_matrix(c, {1, 7, 1024, (1 << 18) + 3}));
  });
}

TEST_P(GlooBackend, BroadcastFromEveryRootAndAllgather) {
  run_gloo_ranks(GetParam(), [](kc::Communicator& c) {
    kiln_test::throw_if_failed(kiln_test::check_broadcast_every_root(c, 1));
    kiln_test::throw_if_failed(kiln_test::check_broadcast_every_root(c, 100003));
    kiln_test::throw_if_failed(kiln_test::check_allgather(c, {1, 7, 1024, 100003}));
  });
}

TEST_P(GlooBackend, BarrierHoldsUntilEveryRankArrives) {
  run_gloo_ranks(GetParam(), [](kc::Communicator& c) { kiln_test::throw_if_failed(kiln_test::check_barrier(c)); });
}

INSTANTIATE_TEST_SUITE_P(Ranks, GlooBackend, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& i) { return std::to_string(i.param); });

class GlooRanks : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kc::gloo_available()) GTEST_SKIP() << "built without Gloo (libgloo-dev)";
  }
};

// Many 1 MiB segments of Gloo's ring, in flight two at a time.
TEST_F(GlooRanks, AllreduceLargeFloat32) {
  run_gloo_ranks(3, [](kc::Communicator& c) {
    kiln_test::Failures f;
    kiln_test::check_allreduce(c, (int64_t{1} << 23) + 5, at::kFloat, ReduceOp::kSum, f);
    kiln_test::check_allreduce(c, (int64_t{1} << 23) + 5, at::kFloat, ReduceOp::kAvg, f);
    kiln_test::throw_if_failed(f);
  });
}

TEST_F(GlooRanks, WaitTimesOutWhilePeerIsLate) {
  run_gloo_ranks(2, [](kc::Communicator& c) {
    at::Tensor t = at::ones({1000});
    if (c.rank() == 0) {
      WorkPtr w = c.allreduce(t, ReduceOp::kSum);
      EXPECT_EQ(w->wait(50ms), WorkStatus::kTimedOut);
      EXPECT_FALSE(w->is_completed());
      EXPECT_EQ(w->wait(kiln_test::kCheckTimeout), WorkStatus::kCompleted) << w->error();
    } else {
      std::this_thread::sleep_for(400ms);
      EXPECT_EQ(c.allreduce(t, ReduceOp::kSum)->wait(kiln_test::kCheckTimeout), WorkStatus::kCompleted);
    }
    EXPECT_TRUE(t.eq(2).all().item<bool>());
  });
}

// Rank 0 aborts while its thread waits inside Gloo for a late peer: its Work, the queued one and later ones are
// aborted at once. The peer then joins, which lets rank 0's thread out of Gloo before its communicator goes.
TEST_F(GlooRanks, AbortReturnsPromptlyWhileInsideGloo) {
  run_gloo_ranks(2, [](kc::Communicator& c) {
    at::Tensor t = at::ones({1000});
    if (c.rank() == 0) {
      WorkPtr w = c.allreduce(t, ReduceOp::kSum);
      WorkPtr queued = c.barrier();
      std::this_thread::sleep_for(100ms);
      const auto start = Clock::now();
      c.abort("rank 1 on node02 died at step 120");
      EXPECT_EQ(w->wait(5s), WorkStatus::kAborted);
      EXPECT_LT(Clock::now() - start, 500ms);
      EXPECT_EQ(w->error(), "rank 1 on node02 died at step 120");
      EXPECT_EQ(queued->wait(0ms), WorkStatus::kAborted);
      EXPECT_EQ(c.barrier()->wait(0ms), WorkStatus::kAborted);
      EXPECT_THROW(kc::wait_ok(c.barrier()), kiln::Error);
      std::this_thread::sleep_for(500ms);
    } else {
      std::this_thread::sleep_for(300ms);
      EXPECT_EQ(c.allreduce(t, ReduceOp::kSum)->wait(kiln_test::kCheckTimeout), WorkStatus::kCompleted);
    }
  });
}

TEST_F(GlooRanks, DescribesWorkAndRejectsBadArgumentsWithoutLosingStep) {
  run_gloo_ranks(2, [](kc::Communicator& c) {
    at::Tensor ints = at::zeros({4}, at::kLong);
    EXPECT_THROW(c.allreduce(ints, ReduceOp::kAvg), kiln::Error);
    at::Tensor strided = at::zeros({4, 4}).t();
    EXPECT_THROW(c.allreduce(strided, ReduceOp::kSum), kiln::Error);
    at::Tensor t = at::ones({4});
    EXPECT_THROW(c.broadcast(t, c.size()), kiln::Error);
    WorkPtr w = c.allreduce(t, ReduceOp::kSum);
    EXPECT_EQ(w->describe(), "allreduce(sum) #0 float32 x 4 (16 B)");
    kc::wait_ok(w, kiln_test::kCheckTimeout);
    EXPECT_TRUE(t.eq(2).all().item<bool>());
    at::Tensor h = at::zeros({5}, at::kHalf);
    w = c.broadcast(h, 0);
    EXPECT_EQ(w->describe(), "broadcast(root 0) #1 float16 x 5 (10 B)");
    kc::wait_ok(w, kiln_test::kCheckTimeout);
  });
}

// Only rank 0 of 2 comes: the rendezvous gives up after the timeout, naming the rank, the store and the key that
// never appeared.
TEST_F(GlooRanks, ARendezvousWithoutPeersTimesOutNamingTheStore) {
  HashStore store(0, "the test's store");
  try {
    kc::make_gloo_communicator(store, 0, 2, loopback(300ms));
    FAIL() << "the rendezvous of a lone rank completed";
  } catch (const kiln::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("gloo rendezvous of rank 0/2"), std::string::npos) << what;
    EXPECT_NE(what.find("the test's store"), std::string::npos) << what;
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
  }
}

// Gloo's keys are fixed names: two worlds share one store only under different prefixes (as kiln's restart attempts).
TEST_F(GlooRanks, TwoWorldsOnOneStoreUnderPrefixes) {
  HashStore store;
  for (const char* attempt : {"attempt/0", "attempt/1"}) {
    kiln_test::run_rank_threads(2, [&](int r) {
      HashStore mine = store.handle(r);
      kiln::cluster::PrefixStore scoped(attempt, mine);
      auto comm = kc::make_gloo_communicator(scoped, r, 2, loopback());
      at::Tensor t = at::full({3}, r + 1.0);
      kc::wait_ok(comm->allreduce(t, ReduceOp::kSum), kiln_test::kCheckTimeout);
      EXPECT_TRUE(t.eq(3).all().item<bool>());
    });
  }
}

// A peer whose communicator goes away (its process died: the kernel closes its sockets) fails the collective the
// others are waiting in at once, long before the 60 s timeout; later Works fail with that first error.
TEST_F(GlooRanks, APeerThatGoesAwayFailsTheCollectiveInFlight) {
  run_gloo_ranks(3, [](kc::Communicator& c) {
    at::Tensor t = at::ones({1 << 16});
    kc::wait_ok(c.allreduce(t, ReduceOp::kSum), kiln_test::kCheckTimeout);
    if (c.rank() == 2) return;  // its communicator is destroyed: connections closed
    const auto start = Clock::now();
    WorkPtr w = c.allreduce(t, ReduceOp::kSum);
    EXPECT_EQ(w->wait(kiln_test::kCheckTimeout), WorkStatus::kFailed);
    EXPECT_LT(Clock::now() - start, 20s);
    EXPECT_NE(w->error().find("rank " + std::to_string(c.rank()) + ": "), std::string::npos) << w->error();
    WorkPtr later = c.barrier();
    EXPECT_EQ(later->wait(0ms), WorkStatus::kFailed);
    EXPECT_NE(later->error().find("communicator failed earlier"), std::string::npos) << later->error();
  });
}

// With a short timeout, a collective whose peer never comes fails (Gloo's own timeout), and so does every later one.
TEST_F(GlooRanks, ACollectiveWhosePeerNeverComesTimesOut) {
  run_gloo_ranks(2, [](kc::Communicator& c) {
    if (c.rank() == 1) {
      std::this_thread::sleep_for(1500ms);
      return;
    }
    at::Tensor t = at::ones({10});
    WorkPtr w = c.allreduce(t, ReduceOp::kSum);
    EXPECT_EQ(w->wait(kiln_test::kCheckTimeout), WorkStatus::kFailed);
    EXPECT_NE(w->error().find("rank 0: "), std::string::npos) << w->error();
    EXPECT_EQ(c.barrier()->wait(0ms), WorkStatus::kFailed);
  }, loopback(500ms));
}

TEST_F(GlooRanks, AnInterfaceWithoutAnAddressIsAUsageError) {
  HashStore store;
  kc::GlooOptions o;
  o.interface = "kiln-nonic0";
  try {
    kc::make_gloo_communicator(store, 0, 1, o);
    FAIL() << "a device was made on an interface that does not exist";
  } catch (const kiln::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("network interface 'kiln-nonic0'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("GLOO_SOCKET_IFNAME"), std::string::npos) << e.what();
  }
}

}  // namespace
