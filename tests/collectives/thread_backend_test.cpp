// Thread backend correctness: the shared matrix for world sizes 1-4.
#include <gtest/gtest.h>

#include "collectives/collective_checks.h"
#include "collectives/thread_harness.h"

namespace {

using kiln_test::run_ranks;
using kiln_test::throw_if_failed;

class ThreadWorld : public ::testing::TestWithParam<int> {};

TEST_P(ThreadWorld, AllreduceEveryOpAndDtype) {
  run_ranks(GetParam(), [](kiln_test::Communicator& c) {
    throw_if_failed(kiln_test::check_allreduce_matrix(c, {1, 7, 1024, (1 << 20) + 3}));
  });
}

TEST_P(ThreadWorld, AllreduceLargeFloat32) {
  run_ranks(GetParam(), [](kiln_test::Communicator& c) {
    kiln_test::Failures f;
    kiln_test::check_allreduce(c, (int64_t{1} << 24) + 5, at::kFloat, kiln_test::ReduceOp::kSum, f);
    throw_if_failed(f);
  });
}

TEST_P(ThreadWorld, BroadcastFromEveryRoot) {
  run_ranks(GetParam(), [](kiln_test::Communicator& c) {
    throw_if_failed(kiln_test::check_broadcast_every_root(c, 1));
    throw_if_failed(kiln_test::check_broadcast_every_root(c, 1031));
  });
}

TEST_P(ThreadWorld, Allgather) {
  run_ranks(GetParam(), [](kiln_test::Communicator& c) {
    throw_if_failed(kiln_test::check_allgather(c, {1, 7, 1024}));
  });
}

TEST_P(ThreadWorld, BarrierHoldsUntilEveryRankArrives) {
  run_ranks(GetParam(), [](kiln_test::Communicator& c) { throw_if_failed(kiln_test::check_barrier(c)); });
}

TEST_P(ThreadWorld, ManyOutstandingWorksCompleteInOrder) {
  run_ranks(GetParam(), [](kiln_test::Communicator& c) {
    std::vector<at::Tensor> tensors;
    std::vector<kiln_test::WorkPtr> works;
    for (int i = 0; i < 16; ++i) {
      tensors.push_back(at::full({33}, static_cast<double>(i + c.rank()), at::kDouble));
      works.push_back(c.allreduce(tensors.back(), kiln_test::ReduceOp::kMax));
    }
    for (int i = 0; i < 16; ++i) {
      kiln::collectives::wait_ok(works[i], kiln_test::kCheckTimeout);
      const double want = i + c.size() - 1;
      if (!tensors[i].eq(want).all().item<bool>()) throw std::runtime_error(works[i]->describe() + " wrong");
    }
  });
}

// The checks above are only as good as compare(): it must see a single wrong element in a large result.
TEST(CollectiveChecks, CompareFindsOneWrongElement) {
  const int64_t n = (1 << 20) + 3;
  at::Tensor t = kiln_test::input(2, n, at::kHalf);
  const kiln_test::Table want = kiln_test::rank_table(2, false);
  EXPECT_EQ(kiln_test::compare(t, want, 0.0), "");
  t[n - 2] = 0.125;
  const std::string wrong = kiln_test::compare(t, want, 0.0);
  EXPECT_NE(wrong.find("element 1048577 is 0.125"), std::string::npos) << wrong;
  EXPECT_NE(wrong.find("(1 of 1048579 differ)"), std::string::npos) << wrong;
}

INSTANTIATE_TEST_SUITE_P(Sizes, ThreadWorld, ::testing::Values(1, 2, 3, 4),
                         [](const auto& info) { return "world" + std::to_string(info.param); });

}  // namespace
