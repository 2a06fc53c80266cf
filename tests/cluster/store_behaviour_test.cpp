// What every Store does, run against each implementation: the TCP store, HashStore, and PrefixStore over each.
// set/get/add/wait across ranks as threads (Gloo-style), barriers, and errors that name what was missing, word for
// word the same whichever store a rank uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/store_worlds.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

struct WorldKind {
  const char* name;
  std::function<std::unique_ptr<StoreWorld>()> make;
};
void PrintTo(const WorldKind& kind, std::ostream* os) { *os << kind.name; }  // test names, not bytes

class StoreBehaviour : public ::testing::TestWithParam<WorldKind> {
 protected:
  void SetUp() override { world = GetParam().make(); }
  std::string shown(const std::string& k) const { return world->shown(k); }
  std::unique_ptr<StoreWorld> world;
};

}  // namespace

// ---- keys and values ----

TEST_P(StoreBehaviour, SetThenGetAcrossRanksInThreads) {
  constexpr int kRanks = 4;
  std::vector<std::vector<std::string>> seen(kRanks);
  const auto errors = run_ranks(*world, {0, 1, 2, 3}, [&](int r, Store& s) {
    s.set("addr/" + std::to_string(r), "value of rank " + std::to_string(r));
    for (int peer = 0; peer < kRanks; ++peer) seen[r].push_back(s.get("addr/" + std::to_string(peer), kLong));
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
  for (int r = 0; r < kRanks; ++r)
    for (int peer = 0; peer < kRanks; ++peer) EXPECT_EQ(seen[r][peer], "value of rank " + std::to_string(peer));
}

TEST_P(StoreBehaviour, GetBlocksUntilAnotherRankSets) {
  auto reader = world->rank(1);
  std::string got;
  std::thread t([&] { got = reader->get("nccl_id", kLong); });
  std::this_thread::sleep_for(50ms);
  world->rank(0)->set("nccl_id", "id-bytes");
  t.join();
  EXPECT_EQ(got, "id-bytes");
}

TEST_P(StoreBehaviour, SetOverwrites) {
  auto s = world->rank(0);
  s->set("k", "one");
  s->set("k", "two");
  EXPECT_EQ(world->rank(1)->get("k", 1s), "two");
}

TEST_P(StoreBehaviour, ValuesAreBytes) {
  auto s = world->rank(0);
  std::string value(1 << 20, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  s->set("blob", value);
  s->set("empty", "");
  EXPECT_EQ(s->get("blob", 1s), value);
  EXPECT_EQ(s->get("empty", 1s), "");
}

TEST_P(StoreBehaviour, AddFromManyRanksCountsEveryIncrement) {
  constexpr int kRanks = 4, kAdds = 50;
  std::vector<int64_t> results;
  std::mutex mu;
  const auto errors = run_ranks(*world, {0, 1, 2, 3}, [&](int, Store& s) {
    for (int i = 0; i < kAdds; ++i) {
      const int64_t v = s.add("counter", 1);
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(v);
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
  std::sort(results.begin(), results.end());
  ASSERT_EQ(results.size(), static_cast<size_t>(kRanks * kAdds));
  for (int i = 0; i < kRanks * kAdds; ++i) ASSERT_EQ(results[i], i + 1);  // each add saw a distinct value
  auto s = world->rank(0);
  EXPECT_EQ(s->add("counter", -10), kRanks * kAdds - 10);
  EXPECT_EQ(s->get("counter", 1s), std::to_string(kRanks * kAdds - 10));  // kept as decimal text
  EXPECT_EQ(s->add("fresh", 0), 0);                                        // absent counts as 0
}

TEST_P(StoreBehaviour, OneStoreIsSafeToShareBetweenThreads) {
  auto s = world->rank(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        s->add("shared", 1);
        s->set("t" + std::to_string(t), std::to_string(i));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(s->add("shared", 0), 200);
  EXPECT_EQ(s->get("t3", 1s), "49");
}

TEST_P(StoreBehaviour, AddOnTextIsRefusedAndTheStoreStaysUsable) {
  auto s = world->rank(2);
  s->set("name", "resnet");
  const std::string key = shown("name");
  EXPECT_EQ(error_of([&] { s->add("name", 1); }),
            "store add '" + key + "' failed on rank 2: store add '" + key + "': the value stored there is not an integer");
  EXPECT_EQ(s->get("name", 1s), "resnet");
  EXPECT_EQ(s->add("other", 5), 5);
}

TEST_P(StoreBehaviour, AddThatOverflowsIsRefusedAndChangesNothing) {
  auto s = world->rank(0);
  const int64_t max = std::numeric_limits<int64_t>::max();
  s->set("big", std::to_string(max));
  const std::string msg = error_of([&] { s->add("big", 1); });
  EXPECT_NE(msg.find(std::to_string(max) + " + 1 overflows int64"), std::string::npos) << msg;
  EXPECT_EQ(s->get("big", 1s), std::to_string(max));
}

TEST_P(StoreBehaviour, WaitReturnsOnceEveryKeyExists) {
  auto waiter = world->rank(0);
  auto writer = world->rank(1);
  std::atomic<bool> done{false};
  std::thread t([&] {
    waiter->wait({"a", "b"}, kLong);
    done = true;
  });
  writer->set("a", "1");
  writer->add("b", 1);
  t.join();
  EXPECT_TRUE(done);
  waiter->wait({"a", "b"}, 0ms);  // already there: no waiting at all
}

// ---- timeouts ----

TEST_P(StoreBehaviour, GetTimeoutNamesKeyTimeoutRankAndStore) {
  auto s = world->rank(3);
  try {
    s->get("nccl_id", 200ms);
    FAIL() << "get of a missing key returned";
  } catch (const kiln::Error& e) {
    EXPECT_EQ(std::string(e.what()), "store get '" + shown("nccl_id") +
                                         "' timed out after 200 ms: no rank has set that key (rank 3, store " +
                                         s->server() + ")");
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
  }
  s->set("nccl_id", "x");  // a timeout is an answer, not a broken store
  EXPECT_EQ(s->get("nccl_id", 1s), "x");
}

TEST_P(StoreBehaviour, ZeroTimeoutLooksOnce) {
  auto s = world->rank(0);
  const std::string msg = error_of([&] { s->get("later", 0ms); });
  EXPECT_NE(msg.find("timed out after 0 ms"), std::string::npos) << msg;
  s->set("later", "now");
  EXPECT_EQ(s->get("later", 0ms), "now");
}

TEST_P(StoreBehaviour, WaitTimeoutNamesOnlyTheMissingKeys) {
  auto s = world->rank(0);
  s->set("a", "1");
  try {
    s->wait({"a", "b", "c"}, 300ms);
    FAIL() << "wait returned with keys missing";
  } catch (const kiln::Error& e) {
    const std::string a = shown("a"), b = shown("b"), c = shown("c");
    EXPECT_EQ(std::string(e.what()), "store wait for keys '" + a + "', '" + b + "', '" + c +
                                         "' timed out after 300 ms: keys '" + b + "', '" + c +
                                         "' never set (rank 0, store " + s->server() + ")");
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
  }
}

// ---- barriers ----

TEST_P(StoreBehaviour, BarrierPassesAllRanksTogetherAndTheNameCanBeReused) {
  std::atomic<int> before{0};
  std::atomic<bool> early{false};
  const auto errors = run_ranks(*world, {0, 1, 2, 3}, [&](int, Store& s) {
    for (int round = 0; round < 3; ++round) {
      before.fetch_add(1);
      s.barrier("epoch", 4, kLong);
      if (before.load() < 4 * (round + 1)) early = true;  // nobody leaves a round before all four entered it
      s.barrier("epoch/after", 4, kLong);
    }
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_FALSE(early);
}

TEST_P(StoreBehaviour, BarrierOfOnePassesAlone) { world->rank(0)->barrier("solo", 1, 1s); }

TEST_P(StoreBehaviour, BarrierTimeoutNamesTheRanksThatHaveNotArrived) {
  // Ranks 0 and 1 meet first so both are surely waiting in "start" before either times out; whichever times out
  // second must still blame 2 and 3, not the rank that gave up a moment earlier.
  const auto errors = run_ranks(*world, {0, 1}, [](int, Store& s) {
    s.barrier("ready", 2, kLong);
    s.barrier("start", 4, 1500ms);
  });
  for (const auto& e : errors)
    EXPECT_EQ(e, "barrier '" + shown("start") + "' timed out after 1.5 s: ranks 2, 3 have not arrived");
}

TEST_P(StoreBehaviour, BarrierTimeoutNamesASingleMissingRank) {
  auto s = world->rank(0);
  try {
    s->barrier("start", 2, 300ms);
    FAIL() << "barrier passed with a rank missing";
  } catch (const kiln::Error& e) {
    EXPECT_EQ(std::string(e.what()), "barrier '" + shown("start") + "' timed out after 300 ms: rank 1 has not arrived");
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
  }
}

TEST_P(StoreBehaviour, ARankThatTimedOutNoLongerCountsAsArrived) {
  // Rank 0 gives up; afterwards rank 1 alone must not complete a barrier of two.
  EXPECT_THROW(world->rank(0)->barrier("b", 2, 200ms), kiln::Error);
  EXPECT_EQ(error_of([&] { world->rank(1)->barrier("b", 2, 300ms); }),
            "barrier '" + shown("b") +
                "' timed out after 300 ms: rank 0 arrived but left before the others came (timed out or exited)");
  // And both together still pass.
  const auto errors = run_ranks(*world, {0, 1}, [](int, Store& s) { s.barrier("b", 2, kLong); });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST_P(StoreBehaviour, DisagreeingWorldSizesAreAnError) {
  auto r0 = world->rank(0);
  std::string first = "(not done)";
  std::thread t([&] { first = error_of([&] { r0->barrier("x", 2, kLong); }); });
  // Rank 0 may not have arrived yet; probe until the mismatch is seen (a probe that came first just times out).
  std::string msg;
  for (int i = 0; i < 3000 && msg.empty(); ++i) {
    const std::string e = error_of([&] { world->rank(1)->barrier("x", 3, 0ms); });
    if (e.find("world size") != std::string::npos) msg = e;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(msg, "store barrier '" + shown("x") + "' failed on rank 1: barrier '" + shown("x") +
                     "': rank 1 says the world size is 3 but rank 0 said 2");
  EXPECT_EQ(error_of([&] { world->rank(1)->barrier("x", 2, kLong); }), "(no error)");
  t.join();
  EXPECT_EQ(first, "(no error)");
}

TEST_P(StoreBehaviour, TheSameRankTwiceIsAnError) {
  auto first_rank0 = world->rank(0);
  std::string first = "(not done)";
  std::thread t([&] { first = error_of([&] { first_rank0->barrier("x", 2, kLong); }); });
  std::string msg;
  for (int i = 0; i < 3000 && msg.empty(); ++i) {
    const std::string e = error_of([&] { world->rank(0)->barrier("x", 2, 0ms); });
    if (e.find("already waiting") != std::string::npos) msg = e;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(msg, "store barrier '" + shown("x") + "' failed on rank 0: barrier '" + shown("x") +
                     "': rank 0 is already waiting here (two processes with the same rank?)");
  EXPECT_EQ(error_of([&] { world->rank(1)->barrier("x", 2, kLong); }), "(no error)");
  t.join();
  EXPECT_EQ(first, "(no error)");
}

TEST_P(StoreBehaviour, RankOutsideTheWorldIsAnError) {
  EXPECT_EQ(error_of([&] { world->rank(5)->barrier("x", 4, 1s); }),
            "store barrier '" + shown("x") + "' failed on rank 5: barrier '" + shown("x") +
                "': rank 5 is not in [0, world size 4)");
}

INSTANTIATE_TEST_SUITE_P(
    Stores, StoreBehaviour,
    ::testing::Values(WorldKind{"Tcp", [] { return std::unique_ptr<StoreWorld>(new TcpWorld); }},
                      WorldKind{"Hash", [] { return std::unique_ptr<StoreWorld>(new HashWorld); }},
                      WorldKind{"PrefixOverTcp",
                                [] { return std::unique_ptr<StoreWorld>(new PrefixWorld(std::make_unique<TcpWorld>())); }},
                      WorldKind{"PrefixOverHash", [] {
                                  return std::unique_ptr<StoreWorld>(new PrefixWorld(std::make_unique<HashWorld>()));
                                }}),
    [](const ::testing::TestParamInfo<WorldKind>& info) { return std::string(info.param.name); });
