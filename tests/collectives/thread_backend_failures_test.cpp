// Thread backend failure paths: abort, desync (mismatched collectives), timeouts, descriptions, argument checks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "collectives/thread_harness.h"
#include "kiln/common/error.h"

namespace {

using namespace std::chrono_literals;
using kiln::collectives::make_thread_world;
using kiln_test::run_ranks;
using kiln_test::ReduceOp;
using kiln_test::WorkPtr;
using kiln_test::WorkStatus;
using Clock = std::chrono::steady_clock;

std::string reduce_call(kiln_test::Communicator& c, at::Tensor t, ReduceOp op) {
  WorkPtr w = c.allreduce(t, op);
  EXPECT_EQ(w->wait(5s), WorkStatus::kFailed) << w->describe();
  return w->error();
}

TEST(ThreadBackendAbort, BlockedPeerReturnsAbortedPromptly) {
  std::atomic<int64_t> aborted_at_ns{0};
  run_ranks(3, [&](kiln_test::Communicator& c) {
    at::Tensor t = at::ones({1000});
    if (c.rank() == 0) {
      std::this_thread::sleep_for(100ms);  // ranks 1 and 2 are now blocked in wait()
      aborted_at_ns = Clock::now().time_since_epoch().count();
      c.abort("rank 0 saw a dead peer");
      return;
    }
    WorkPtr w = c.allreduce(t, ReduceOp::kSum);
    const WorkStatus s = w->wait(10s);  // the guard: a hang shows up as kTimedOut, not a stuck test
    const auto late = Clock::now().time_since_epoch().count() - aborted_at_ns.load();
    EXPECT_EQ(s, WorkStatus::kAborted);
    EXPECT_EQ(w->error(), "rank 0 saw a dead peer");
    EXPECT_LT(late, std::chrono::nanoseconds(500ms).count());
  });
}

TEST(ThreadBackendAbort, FutureWorkFailsOnEveryRank) {
  auto comms = make_thread_world(2);
  comms[1]->abort("stop");
  for (auto& c : comms) {
    at::Tensor t = at::ones({4});
    WorkPtr w = c->allreduce(t, ReduceOp::kSum);
    EXPECT_TRUE(w->is_completed());
    EXPECT_EQ(w->wait(0ms), WorkStatus::kAborted);
    EXPECT_EQ(w->error(), "stop");
    EXPECT_EQ(c->barrier()->wait(), WorkStatus::kAborted);
    EXPECT_THROW(kiln::collectives::wait_ok(c->barrier()), kiln::Error);
  }
}

TEST(ThreadBackendDesync, MismatchedCollectivesFailWithBothDescriptions) {
  run_ranks(2, [](kiln_test::Communicator& c) {
    // Different reduce op.
    std::string e = reduce_call(c, at::ones({7}), c.rank() == 0 ? ReduceOp::kSum : ReduceOp::kMax);
    EXPECT_NE(e.find("allreduce(sum) #0 float32 x 7 (28 B)"), std::string::npos) << e;
    EXPECT_NE(e.find("allreduce(max) #0 float32 x 7 (28 B)"), std::string::npos) << e;
    // Different dtype.
    e = reduce_call(c, at::ones({7}, c.rank() == 0 ? at::kFloat : at::kDouble), ReduceOp::kSum);
    EXPECT_NE(e.find("rank 0 called allreduce(sum) #1 float32"), std::string::npos) << e;
    EXPECT_NE(e.find("rank 1 called allreduce(sum) #1 float64"), std::string::npos) << e;
    // Different numel.
    e = reduce_call(c, at::ones({c.rank() == 0 ? 8 : 9}), ReduceOp::kSum);
    EXPECT_NE(e.find("float32 x 8"), std::string::npos) << e;
    EXPECT_NE(e.find("float32 x 9"), std::string::npos) << e;
    // Different collective.
    at::Tensor t = at::ones({3});
    WorkPtr w = c.rank() == 0 ? c.allreduce(t, ReduceOp::kSum) : c.broadcast(t, 0);
    EXPECT_EQ(w->wait(5s), WorkStatus::kFailed);
    EXPECT_NE(w->error().find("broadcast(root 0) #3"), std::string::npos) << w->error();
    EXPECT_NE(w->error().find("desync"), std::string::npos) << w->error();
    // Matching calls after a mismatch still work.
    kiln::collectives::wait_ok(c.barrier(), 5s);
  });
}

TEST(ThreadBackendTimeout, WaitTimesOutWhilePeerIsMissing) {
  auto comms = make_thread_world(2);
  at::Tensor a = at::ones({5});
  WorkPtr w = comms[0]->allreduce(a, ReduceOp::kSum);
  const auto start = Clock::now();
  EXPECT_EQ(w->wait(50ms), WorkStatus::kTimedOut);
  EXPECT_GE(Clock::now() - start, 45ms);
  EXPECT_FALSE(w->is_completed());
  // A timeout is an answer, not a state: the Work completes once the peer arrives.
  at::Tensor b = at::ones({5});
  WorkPtr peer = comms[1]->allreduce(b, ReduceOp::kSum);
  EXPECT_EQ(w->wait(5s), WorkStatus::kCompleted);
  EXPECT_EQ(peer->wait(5s), WorkStatus::kCompleted);
  EXPECT_TRUE(a.eq(2).all().item<bool>());
}

TEST(ThreadBackendTimeout, PeerThatNeverJoins) {
  auto comms = make_thread_world(3);
  WorkPtr w = comms[2]->barrier();
  EXPECT_EQ(w->wait(20ms), WorkStatus::kTimedOut);
  EXPECT_EQ(w->wait(0ms), WorkStatus::kTimedOut);
}

TEST(ThreadBackendWork, DescribesItself) {
  auto comms = make_thread_world(1);
  auto& c = *comms[0];
  EXPECT_EQ(c.barrier()->describe(), "barrier #0");
  for (int i = 1; i < 17; ++i) c.barrier()->wait();
  at::Tensor t = at::zeros({1048576});
  WorkPtr w = c.allreduce(t, ReduceOp::kSum);
  EXPECT_EQ(w->describe(), "allreduce(sum) #17 float32 x 1048576 (4.0 MiB)");
  EXPECT_EQ(w->wait(), WorkStatus::kCompleted);
  EXPECT_TRUE(w->error().empty());
  at::Tensor h = at::zeros({3}, at::kBFloat16);
  EXPECT_EQ(c.broadcast(h, 0)->describe(), "broadcast(root 0) #18 bfloat16 x 3 (6 B)");
  at::Tensor out = at::zeros({3}, at::kBFloat16);
  EXPECT_EQ(c.allgather(h, out)->describe(), "allgather #19 bfloat16 x 3 (6 B)");
  EXPECT_EQ(c.backend(), "thread");
}

TEST(ThreadBackendWork, RejectsBadArguments) {
  auto comms = make_thread_world(2);
  auto& c = *comms[0];
  at::Tensor strided = at::zeros({4, 4}).t();
  EXPECT_THROW(c.allreduce(strided, ReduceOp::kSum), kiln::Error);
  at::Tensor ints = at::zeros({4}, at::kLong);
  EXPECT_THROW(c.allreduce(ints, ReduceOp::kAvg), kiln::Error);
  at::Tensor bytes = at::zeros({4}, at::kByte);
  EXPECT_THROW(c.allreduce(bytes, ReduceOp::kSum), kiln::Error);
  at::Tensor t = at::zeros({4});
  EXPECT_THROW(c.broadcast(t, 2), kiln::Error);
  at::Tensor small = at::zeros({7});
  EXPECT_THROW(c.allgather(t, small), kiln::Error);
  at::Tensor wrong_type = at::zeros({8}, at::kDouble);
  EXPECT_THROW(c.allgather(t, wrong_type), kiln::Error);
}

}  // namespace
