// GradientReducer on the in-process thread backend: bucketing, averaging, overlap with backward, compression,
// unused parameters, layout desync, broadcast.
#include "kiln/collectives/reducer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <thread>

#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"

using namespace kiln::collectives;

namespace {

// Runs fn(rank, communicator) on `n` rank-threads; rethrows the first exception (Gloo's test harness).
void run_ranks(int n, const std::function<void(int, Communicator&)>& fn) {
  auto world = make_thread_world(n);
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r, *world[r]);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// A 4-layer chain; each rank feeds different data so each rank's local gradients differ.
struct Chain {
  std::vector<at::Tensor> w;
  // Same initial weights on every rank. Build chains on the main thread: rank threads seeding and drawing from
  // the shared default generator at the same time would interleave and give each rank different weights.
  explicit Chain(int64_t width = 8, int64_t layers = 4) {
    at::manual_seed(7);
    for (int64_t i = 0; i < layers; ++i) w.push_back((at::randn({width, width}) * 0.3).requires_grad_());
  }
  at::Tensor loss(int rank) const {
    at::Tensor x = at::full({3, w[0].size(0)}, 0.1 * (rank + 1)) + at::arange(3 * w[0].size(0)).view({3, -1}) * 0.01;
    for (const auto& wi : w) x = at::tanh(x.matmul(wi));
    return x.pow(2).sum();
  }
  std::vector<at::Tensor> local_grads(int rank) const {
    std::vector<at::Tensor> copies;
    for (const auto& wi : w) copies.push_back(wi.detach().clone().requires_grad_());
    Chain c = *this;
    c.w = copies;
    c.loss(rank).backward();
    std::vector<at::Tensor> g;
    for (const auto& wi : copies) g.push_back(wi.grad().clone());
    return g;
  }
};

}  // namespace

TEST(AssignBuckets, ReverseOrderFirstBucketSmallThenLarge) {
  BucketConfig cfg{100, 1000};
  const std::vector<size_t> bytes{400, 400, 400, 60, 60};
  const std::vector<at::ScalarType> f(5, at::kFloat);
  const auto b = assign_buckets(bytes, f, cfg);
  // Reverse order: 4, 3 fill the first bucket (120 ≥ 100), then 2, 1, 0 share a 1000-byte bucket.
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0], (std::vector<size_t>{4, 3}));
  EXPECT_EQ(b[1], (std::vector<size_t>{2, 1, 0}));
}

TEST(AssignBuckets, SplitsOnCapAndDtypeAndCoversEverything) {
  BucketConfig cfg{10, 20};
  const std::vector<size_t> bytes{8, 8, 8, 8, 8, 8};
  std::vector<at::ScalarType> dt{at::kFloat, at::kFloat, at::kDouble, at::kFloat, at::kFloat, at::kFloat};
  const auto b = assign_buckets(bytes, dt, cfg);
  EXPECT_EQ(b, (std::vector<std::vector<size_t>>{{5, 4}, {3}, {2}, {1, 0}}));
  std::vector<size_t> all;
  for (const auto& bucket : b) all.insert(all.end(), bucket.begin(), bucket.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
}

TEST(GradientReducer, AveragesGradientsAcrossRanks) {
  for (int world : {1, 2, 3}) {
    Chain reference;
    std::vector<at::Tensor> avg;
    for (int r = 0; r < world; ++r) {
      auto g = reference.local_grads(r);
      if (avg.empty()) avg = g;
      else
        for (size_t i = 0; i < g.size(); ++i) avg[i] = avg[i] + g[i];
    }
    for (auto& a : avg) a = a / world;
    std::vector<Chain> chains(static_cast<size_t>(world));
    run_ranks(world, [&](int rank, Communicator& comm) {
      Chain& c = chains[static_cast<size_t>(rank)];
      ReducerOptions opts;
      opts.buckets = {600, 600};  // several buckets
      GradientReducer reducer(comm, c.w, opts);
      EXPECT_GT(reducer.num_buckets(), 1u);
      for (int step = 0; step < 2; ++step) {  // twice: buckets reset between steps
        for (auto& w : c.w) w.mutable_grad() = at::Tensor();
        c.loss(rank).backward();
        reducer.finalize();
        for (size_t i = 0; i < c.w.size(); ++i)
          EXPECT_TRUE(at::allclose(c.w[i].grad(), avg[i], 1e-6, 1e-7)) << "world " << world << " param " << i;
      }
    });
  }
}

TEST(GradientReducer, FirstBucketIsLaunchedBeforeBackwardEnds) {
  std::vector<Chain> chains{Chain(16, 6), Chain(16, 6)};
  run_ranks(2, [&](int rank, Communicator& comm) {
    Chain& c = chains[static_cast<size_t>(rank)];
    std::vector<std::string> events;
    std::mutex mu;
    // Registered before the reducer's own hook, so it fires when backward reaches the first layer's gradient —
    // the last gradient backward computes.
    c.w[0].register_hook([&](const at::Tensor&) {
      std::lock_guard<std::mutex> l(mu);
      events.push_back("grad0");
    });
    ReducerOptions opts;
    opts.buckets = {1, 1};  // one parameter per bucket
    GradientReducer reducer(comm, c.w, opts);
    reducer.set_launch_observer([&](size_t b) {
      std::lock_guard<std::mutex> l(mu);
      events.push_back("launch" + std::to_string(b));
    });
    c.loss(rank).backward();
    reducer.finalize();
    const auto pos = [&](const std::string& e) { return std::find(events.begin(), events.end(), e) - events.begin(); };
    ASSERT_EQ(reducer.num_buckets(), 6u);
    EXPECT_LT(pos("launch0"), pos("grad0")) << "bucket 0's all-reduce must start while backward is still running";
    EXPECT_LT(pos("launch4"), pos("grad0"));
  });
}

TEST(GradientReducer, HalfPrecisionCompressionIsClose) {
  Chain reference;
  auto g0 = reference.local_grads(0), g1 = reference.local_grads(1);
  for (Compression comp : {Compression::kFp16, Compression::kBf16}) {
    std::vector<Chain> chains(2);
    run_ranks(2, [&](int rank, Communicator& comm) {
      Chain& c = chains[static_cast<size_t>(rank)];
      ReducerOptions opts;
      opts.compression = comp;
      GradientReducer reducer(comm, c.w, opts);
      c.loss(rank).backward();
      reducer.finalize();
      for (size_t i = 0; i < c.w.size(); ++i) {
        const at::Tensor want = (g0[i] + g1[i]) / 2;
        EXPECT_EQ(c.w[i].grad().scalar_type(), at::kFloat);
        EXPECT_TRUE(at::allclose(c.w[i].grad(), want, comp == Compression::kFp16 ? 2e-3 : 2e-2, 1e-3)) << i;
      }
    });
  }
}

TEST(GradientReducer, StepFlagsAreAgreedByEveryRankAndClearedEachStep) {
  run_ranks(3, [&](int rank, Communicator& comm) {
    at::Tensor a = at::full({4}, 0.5).requires_grad_();
    GradientReducer reducer(comm, {a});
    const auto step = [&](int64_t flags) {
      reducer.set_step_flags(flags);
      (a * 2).sum().backward();
      reducer.finalize();
      return reducer.agreed_step_flags();
    };
    EXPECT_EQ(step(rank == 2 ? 1 : 0), 1);           // one rank's stop request reaches all
    EXPECT_EQ(step(rank == 0 ? 2 : rank == 1 ? 1 : 0), 3);  // the OR of every rank's
    EXPECT_EQ(step(0), 0);                              // nothing carried over
  });
}

TEST(GradientReducer, UnusedParameterContributesZeros) {
  run_ranks(2, [&](int rank, Communicator& comm) {
    at::Tensor a = at::full({4}, 0.5).requires_grad_(), b = at::full({4}, -0.25).requires_grad_();
    GradientReducer reducer(comm, {a, b});
    // Rank 0 uses both; rank 1 only a.
    at::Tensor loss = rank == 0 ? (a * 2).sum() + (b * 4).sum() : (a * 6).sum();
    loss.backward();
    reducer.finalize();
    EXPECT_TRUE(at::allclose(a.grad(), at::full({4}, 4.0)));
    EXPECT_TRUE(at::allclose(b.grad(), at::full({4}, 2.0)));
  });
}

TEST(GradientReducer, DifferentModelsAreReportedNotReduced) {
  EXPECT_THROW(run_ranks(2,
                         [&](int rank, Communicator& comm) {
                           at::Tensor p = at::zeros({rank == 0 ? 10 : 12}).requires_grad_();
                           try {
                             GradientReducer reducer(comm, {p});
                           } catch (const kiln::Error& e) {
                             EXPECT_NE(std::string(e.what()).find("gradient buckets differ between ranks"),
                                       std::string::npos)
                                 << e.what();
                             EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
                             throw;
                           }
                         }),
               kiln::Error);
}

TEST(GradientReducer, BroadcastCopiesRootValues) {
  run_ranks(3, [&](int rank, Communicator& comm) {
    at::Tensor p = at::full({5}, static_cast<float>(rank)).requires_grad_();
    at::Tensor buffer = at::full({2}, static_cast<int64_t>(rank * 10), at::kLong);
    GradientReducer reducer(comm, {p});
    reducer.broadcast({p, buffer}, 0);
    EXPECT_TRUE(at::equal(p.detach(), at::zeros({5})));
    EXPECT_TRUE(at::equal(buffer, at::zeros({2}, at::kLong)));
  });
}
