// MPI backend under real mpirun (tests/CMakeLists.txt runs it with -np 2 and -np 3). Every rank runs every test
// in the same order, each on a fresh communicator, so the collectives of one test always meet. Rank 0 prints
// gtest's report; other ranks print only their failures, prefixed with their rank.
#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "collectives/collective_checks.h"
#include "kiln/collectives/backends.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"

namespace {

using namespace std::chrono_literals;
using kiln_test::ReduceOp;
using kiln_test::WorkPtr;
using kiln_test::WorkStatus;
using Clock = std::chrono::steady_clock;
namespace kc = kiln::collectives;

class MpiBackend : public ::testing::Test {
 protected:
  void SetUp() override { comm = kc::make_mpi_communicator(); }
  void TearDown() override { comm.reset(); }
  int rank() const { return comm->rank(); }
  int size() const { return comm->size(); }
  std::unique_ptr<kc::Communicator> comm;
};

TEST_F(MpiBackend, MatchesMpiWorld) {
  int world_rank = -1;
  int world_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  EXPECT_EQ(rank(), world_rank);
  EXPECT_EQ(size(), world_size);
  EXPECT_EQ(comm->backend(), "mpi");
}

TEST_F(MpiBackend, AllreduceEveryOpAndDtype) {
  const kiln_test::Failures f = kiln_test::check_allreduce_matrix(*comm, {1, 7, 1024, (1 << 20) + 3});
  EXPECT_TRUE(f.empty()) << f.str();
}

TEST_F(MpiBackend, AllreduceLargeFloat32) {
  kiln_test::Failures f;
  kiln_test::check_allreduce(*comm, (int64_t{1} << 24) + 5, at::kFloat, ReduceOp::kSum, f);
  kiln_test::check_allreduce(*comm, (int64_t{1} << 24) + 5, at::kFloat, ReduceOp::kAvg, f);
  EXPECT_TRUE(f.empty()) << f.str();
}

TEST_F(MpiBackend, BroadcastFromEveryRoot) {
  kiln_test::Failures f = kiln_test::check_broadcast_every_root(*comm, 1);
  const kiln_test::Failures g = kiln_test::check_broadcast_every_root(*comm, 100003);
  EXPECT_TRUE(f.empty()) << f.str();
  EXPECT_TRUE(g.empty()) << g.str();
}

TEST_F(MpiBackend, Allgather) {
  const kiln_test::Failures f = kiln_test::check_allgather(*comm, {1, 7, 1024, 100003});
  EXPECT_TRUE(f.empty()) << f.str();
}

TEST_F(MpiBackend, BarrierHoldsUntilEveryRankArrives) {
  const kiln_test::Failures f = kiln_test::check_barrier(*comm);
  EXPECT_TRUE(f.empty()) << f.str();
}

// The point of the MPI thread: a 64 MiB all-reduce completes while this thread computes and makes no MPI call.
TEST_F(MpiBackend, AllreduceProgressesWhileCallerComputes) {
  at::Tensor t = at::ones({int64_t{16} << 20});
  WorkPtr w = comm->allreduce(t, ReduceOp::kSum);
  EXPECT_FALSE(w->is_completed());
  int64_t units = 0;
  double sink = 0;
  const auto start = Clock::now();
  while (!w->is_completed() && Clock::now() - start < kiln_test::kCheckTimeout) {
    for (int i = 0; i < 20000; ++i) sink += std::sqrt(static_cast<double>(i + units));
    ++units;
  }
  EXPECT_TRUE(w->is_completed());
  EXPECT_GT(units, 0);
  EXPECT_GT(sink, 0);
  EXPECT_EQ(w->wait(0ms), WorkStatus::kCompleted) << w->error();
  EXPECT_TRUE(t.eq(size()).all().item<bool>());
  if (rank() == 0) std::printf("  caller did %lld work units while the all-reduce ran\n", (long long)units);
}

TEST_F(MpiBackend, WaitTimesOutWhilePeerIsLate) {
  if (size() < 2) GTEST_SKIP() << "needs 2 ranks";
  at::Tensor t = at::ones({1000});
  if (rank() == 0) {
    WorkPtr w = comm->allreduce(t, ReduceOp::kSum);
    EXPECT_EQ(w->wait(50ms), WorkStatus::kTimedOut);
    EXPECT_FALSE(w->is_completed());
    EXPECT_EQ(w->wait(kiln_test::kCheckTimeout), WorkStatus::kCompleted) << w->error();
  } else {
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(comm->allreduce(t, ReduceOp::kSum)->wait(kiln_test::kCheckTimeout), WorkStatus::kCompleted);
  }
  EXPECT_TRUE(t.eq(size()).all().item<bool>());
}

// Rank 0 aborts while its thread is inside MPI_Allreduce waiting for late peers: its Work fails at once. The peers
// then join, which lets rank 0's thread out of MPI before the communicator is destroyed (so MPI can finalize).
TEST_F(MpiBackend, AbortReturnsPromptlyWhileInsideMpi) {
  if (size() < 2) GTEST_SKIP() << "needs 2 ranks";
  at::Tensor t = at::ones({1000});
  if (rank() == 0) {
    WorkPtr w = comm->allreduce(t, ReduceOp::kSum);
    WorkPtr queued = comm->barrier();
    std::this_thread::sleep_for(100ms);
    const auto start = Clock::now();
    comm->abort("rank 2 on node02 died at step 120");
    EXPECT_EQ(w->wait(5s), WorkStatus::kAborted);
    EXPECT_LT(Clock::now() - start, 500ms);
    EXPECT_EQ(w->error(), "rank 2 on node02 died at step 120");
    EXPECT_EQ(queued->wait(0ms), WorkStatus::kAborted);
    EXPECT_EQ(comm->barrier()->wait(0ms), WorkStatus::kAborted);
    EXPECT_THROW(kc::wait_ok(comm->barrier()), kiln::Error);
    std::this_thread::sleep_for(500ms);
  } else {
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(comm->allreduce(t, ReduceOp::kSum)->wait(kiln_test::kCheckTimeout), WorkStatus::kCompleted);
  }
}

TEST_F(MpiBackend, DescribesWork) {
  for (int i = 0; i < 17; ++i) kc::wait_ok(comm->barrier(), kiln_test::kCheckTimeout);
  at::Tensor t = at::zeros({1048576});
  WorkPtr w = comm->allreduce(t, ReduceOp::kSum);
  EXPECT_EQ(w->describe(), "allreduce(sum) #17 float32 x 1048576 (4.0 MiB)");
  kc::wait_ok(w, kiln_test::kCheckTimeout);
  at::Tensor h = at::zeros({5}, at::kHalf);
  w = comm->broadcast(h, 0);
  EXPECT_EQ(w->describe(), "broadcast(root 0) #18 float16 x 5 (10 B)");
  kc::wait_ok(w, kiln_test::kCheckTimeout);
}

TEST_F(MpiBackend, RejectsBadArgumentsWithoutLosingStep) {
  at::Tensor ints = at::zeros({4}, at::kLong);
  EXPECT_THROW(comm->allreduce(ints, ReduceOp::kAvg), kiln::Error);
  at::Tensor strided = at::zeros({4, 4}).t();
  EXPECT_THROW(comm->allreduce(strided, ReduceOp::kSum), kiln::Error);
  at::Tensor t = at::ones({4});
  EXPECT_THROW(comm->broadcast(t, size()), kiln::Error);
  // Rejected calls take no sequence number, so the next call still meets its peers.
  WorkPtr w = comm->allreduce(t, ReduceOp::kSum);
  EXPECT_EQ(w->describe(), "allreduce(sum) #0 float32 x 4 (16 B)");
  kc::wait_ok(w, kiln_test::kCheckTimeout);
  EXPECT_TRUE(t.eq(size()).all().item<bool>());
}

TEST(MpiSessionRules, SecondLiveCommunicatorNeedsThreadMultiple) {
  int provided = 0;
  MPI_Query_thread(&provided);
  if (provided >= MPI_THREAD_MULTIPLE) GTEST_SKIP() << "MPI provides MPI_THREAD_MULTIPLE";
  auto first = kc::make_mpi_communicator();
  EXPECT_THROW(kc::make_mpi_communicator(), kiln::Error);
  first.reset();
  auto again = kc::make_mpi_communicator();  // the slot is free once the first is gone
  kc::wait_ok(again->barrier(), kiln_test::kCheckTimeout);
}

// Ranks other than 0 report only what failed, naming themselves.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                 r.line_number(), r.message());
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed()) {
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
    }
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  kc::MpiSession session;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (rank != 0 && kiln::env_string(kiln::knob::kTestAllRanksPrint).empty()) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);  // rank 0's exit code covers all
  return failed;
}
