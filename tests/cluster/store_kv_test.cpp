// set/get/add/wait across several clients (ranks as threads, Gloo-style), and timeouts that name what was missing.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/store.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace std::chrono_literals;
using kiln::cluster::test::kLong;
using kiln::cluster::test::server_options;

namespace {

// The shared options, plus a host name per rank ("node0<rank>") as a real job would have.
StoreClientOptions client_options(const StoreServer& server, int rank) {
  StoreClientOptions o = kiln::cluster::test::client_options(server, rank);
  o.peer_host = "node0" + std::to_string(rank);
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kiln::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(StoreKv, SetThenGetAcrossClientsInThreads) {
  StoreServer server(server_options());
  constexpr int kRanks = 4;
  std::vector<std::vector<std::string>> seen(kRanks);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r)
    ranks.emplace_back([&, r] {
      StoreClient c(client_options(server, r));
      c.set("addr/" + std::to_string(r), "value of rank " + std::to_string(r));
      for (int peer = 0; peer < kRanks; ++peer) seen[r].push_back(c.get("addr/" + std::to_string(peer), kLong));
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < kRanks; ++r)
    for (int peer = 0; peer < kRanks; ++peer) EXPECT_EQ(seen[r][peer], "value of rank " + std::to_string(peer));
}

TEST(StoreKv, GetBlocksUntilAnotherClientSets) {
  StoreServer server(server_options());
  StoreClient reader(client_options(server, 1));
  std::string got;
  std::thread t([&] { got = reader.get("nccl_id", kLong); });
  std::this_thread::sleep_for(50ms);
  StoreClient(client_options(server, 0)).set("nccl_id", "id-bytes");
  t.join();
  EXPECT_EQ(got, "id-bytes");
}

TEST(StoreKv, SetOverwrites) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 0));
  c.set("k", "one");
  c.set("k", "two");
  EXPECT_EQ(c.get("k", 1s), "two");
}

TEST(StoreKv, ValuesAreBytes) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 0));
  std::string value(1 << 20, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  c.set("blob", value);
  c.set("empty", "");
  EXPECT_EQ(c.get("blob", 1s), value);
  EXPECT_EQ(c.get("empty", 1s), "");
}

TEST(StoreKv, AddFromManyClientsCountsEveryIncrement) {
  StoreServer server(server_options());
  constexpr int kRanks = 4, kAdds = 50;
  std::vector<int64_t> results;
  std::mutex mu;
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r)
    ranks.emplace_back([&, r] {
      StoreClient c(client_options(server, r));
      for (int i = 0; i < kAdds; ++i) {
        const int64_t v = c.add("counter", 1);
        std::lock_guard<std::mutex> lock(mu);
        results.push_back(v);
      }
    });
  for (auto& t : ranks) t.join();
  std::sort(results.begin(), results.end());
  for (int i = 0; i < kRanks * kAdds; ++i) ASSERT_EQ(results[i], i + 1);  // each add saw a distinct value
  StoreClient c(client_options(server, 0));
  EXPECT_EQ(c.add("counter", -10), kRanks * kAdds - 10);
  EXPECT_EQ(c.get("counter", 1s), std::to_string(kRanks * kAdds - 10));
}

TEST(StoreKv, OneClientIsSafeToShareBetweenThreads) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        c.add("shared", 1);
        c.set("t" + std::to_string(t), std::to_string(i));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.add("shared", 0), 200);
  EXPECT_EQ(c.get("t3", 1s), "49");
}

TEST(StoreKv, AddOnTextIsAnErrorAndTheClientStaysUsable) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 2));
  c.set("name", "resnet");
  const std::string msg = error_of([&] { c.add("name", 1); });
  EXPECT_NE(msg.find("add 'name'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an integer"), std::string::npos) << msg;
  EXPECT_EQ(c.add("other", 5), 5);
}

TEST(StoreKv, WaitReturnsOnceEveryKeyExists) {
  StoreServer server(server_options());
  StoreClient waiter(client_options(server, 0));
  StoreClient writer(client_options(server, 1));
  bool done = false;
  std::thread t([&] {
    waiter.wait({"a", "b"}, kLong);
    done = true;
  });
  writer.set("a", "1");
  writer.add("b", 1);
  t.join();
  EXPECT_TRUE(done);
  waiter.wait({"a", "b"}, 0ms);  // already there: no waiting at all
}

TEST(StoreKv, GetTimeoutNamesKeyTimeoutAndRank) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 3));
  try {
    c.get("nccl_id", 200ms);
    FAIL() << "get of a missing key returned";
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("get 'nccl_id' timed out after 200 ms"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 3"), std::string::npos) << msg;
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
  }
  c.set("nccl_id", "x");  // a timeout is an answer, not a broken connection
  EXPECT_EQ(c.get("nccl_id", 1s), "x");
}

TEST(StoreKv, WaitTimeoutNamesOnlyTheMissingKeys) {
  StoreServer server(server_options());
  StoreClient c(client_options(server, 0));
  c.set("a", "1");
  const std::string msg = error_of([&] { c.wait({"a", "b", "c"}, 1500ms); });
  EXPECT_NE(msg.find("timed out after 1.5 s"), std::string::npos) << msg;
  EXPECT_NE(msg.find("keys 'b', 'c' never set"), std::string::npos) << msg;
}

TEST(StoreKv, RequestOverTheClientCapIsRefusedBeforeSending) {
  StoreServer server(server_options());
  auto o = client_options(server, 0);
  o.max_frame_bytes = 1024;
  StoreClient c(o);
  const std::string msg = error_of([&] { c.set("big", std::string(4096, 'x')); });
  EXPECT_NE(msg.find("frame cap"), std::string::npos) << msg;
  EXPECT_NE(msg.find("KILN_STORE_MAX_FRAME_BYTES"), std::string::npos) << msg;
  c.set("small", "ok");  // nothing was sent, so the connection is fine
  EXPECT_EQ(c.get("small", 1s), "ok");
}
