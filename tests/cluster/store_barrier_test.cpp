// Barriers: everyone passes together, names can be reused, and a timeout names the ranks that never came.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/store.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// Runs `body(rank, client)` on one thread per rank and returns each rank's error message ("" if none).
std::vector<std::string> run_ranks(const StoreServer& server, const std::vector<int>& ranks,
                                   const std::function<void(int, StoreClient&)>& body) {
  std::vector<std::string> errors(ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ranks.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        StoreClient c(client_options(server, ranks[i]));
        body(ranks[i], c);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace

TEST(StoreBarrier, AllRanksPassTogetherAndTheNameCanBeReused) {
  StoreServer server(server_options());
  std::atomic<int> before{0};
  std::atomic<bool> early{false};
  const auto errors = run_ranks(server, {0, 1, 2, 3}, [&](int, StoreClient& c) {
    for (int round = 0; round < 3; ++round) {
      before.fetch_add(1);
      c.barrier("epoch", 4, kLong);
      // Nobody leaves a round before all four have entered it.
      if (before.load() < 4 * (round + 1)) early = true;
      c.barrier("epoch/after", 4, kLong);
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_FALSE(early);
}

TEST(StoreBarrier, WorldOfOnePassesAlone) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 0));
  c.barrier("solo", 1, 1s);
}

TEST(StoreBarrier, TimeoutNamesTheRanksThatHaveNotArrived) {
  StoreServer server(server_options());
  // Ranks 0 and 1 meet first so both are surely waiting in "start" before either times out; whichever times out
  // second must still blame 2 and 3, not the rank that gave up a moment earlier.
  const auto errors = run_ranks(server, {0, 1}, [](int, StoreClient& c) {
    c.barrier("ready", 2, kLong);
    c.barrier("start", 4, 1500ms);
  });
  for (const auto& e : errors) EXPECT_EQ(e, "barrier 'start' timed out after 1.5 s: ranks 2, 3 have not arrived");
}

TEST(StoreBarrier, TimeoutNamesASingleMissingRank) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 0));
  try {
    c.barrier("start", 2, 1s);
    FAIL() << "barrier passed with a rank missing";
  } catch (const kiln::Error& e) {
    EXPECT_STREQ(e.what(), "barrier 'start' timed out after 1 s: rank 1 has not arrived");
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
  }
}

TEST(StoreBarrier, ATimedOutRankNoLongerCountsAsArrived) {
  StoreServer server(server_options());
  // Rank 0 gives up; afterwards rank 1 alone must not complete a barrier of two.
  StoreClient r0(client_options(server, 0));
  EXPECT_THROW(r0.barrier("b", 2, 200ms), kiln::Error);
  StoreClient r1(client_options(server, 1));
  try {
    r1.barrier("b", 2, 300ms);
    FAIL() << "barrier counted a rank that had left";
  } catch (const kiln::Error& e) {
    EXPECT_STREQ(e.what(),
                 "barrier 'b' timed out after 300 ms: rank 0 arrived but left before the others came (timed out or "
                 "exited)");
  }
  // And both together still work.
  const auto errors = run_ranks(server, {0, 1}, [](int, StoreClient& c) { c.barrier("b", 2, kLong); });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(StoreBarrier, DisagreeingWorldSizesAreAnError) {
  StoreServer server(server_options());
  StoreClient r0(client_options(server, 0));
  std::string first;
  std::thread t([&] {
    try {
      r0.barrier("x", 2, kLong);
    } catch (const std::exception& e) {
      first = e.what();
    }
  });
  StoreClient r1(client_options(server, 1));
  // Rank 0 may not have arrived yet; retry until the mismatch is seen, then join properly.
  std::string msg;
  for (int i = 0; i < 3000 && msg.empty(); ++i) {
    try {
      StoreClient probe(client_options(server, 1));
      probe.barrier("x", 3, 0ms);
    } catch (const kiln::Error& e) {
      if (std::string(e.what()).find("world size") != std::string::npos) msg = e.what();
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(msg.find("rank 1 says the world size is 3 but rank 0 said 2"), std::string::npos) << msg;
  r1.barrier("x", 2, kLong);
  t.join();
  EXPECT_EQ(first, "");
}

TEST(StoreBarrier, RankOutsideTheWorldIsAnError) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 5));
  try {
    c.barrier("x", 4, 1s);
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 5 is not in [0, world size 4)"), std::string::npos) << e.what();
  }
}
