// PrefixStore: namespaces inside one store (each restart attempt, each subsystem) do not see or meet each other,
// over the in-process store and over TCP alike. That it forwards every call faithfully is the behavioural suite's
// job (store_behaviour_test.cpp runs it over PrefixStore).
#include <gtest/gtest.h>

#include <ostream>
#include <thread>

#include "cluster/store_worlds.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

struct InnerKind {
  const char* name;
  std::function<std::unique_ptr<StoreWorld>()> make;
};
void PrintTo(const InnerKind& kind, std::ostream* os) { *os << kind.name; }  // test names, not bytes

class PrefixStoreIsolation : public ::testing::TestWithParam<InnerKind> {
 protected:
  void SetUp() override {
    world = GetParam().make();
    store = world->rank(0);
  }
  std::unique_ptr<StoreWorld> world;
  std::unique_ptr<Store> store;  // rank 0's, unprefixed
};

}  // namespace

TEST_P(PrefixStoreIsolation, NamespacesKeepTheirOwnKeys) {
  PrefixStore first("attempt-1", *store), second("attempt-2", *store);
  first.set("nccl_id", "one");
  second.set("nccl_id", "two");
  EXPECT_EQ(first.get("nccl_id", 1s), "one");
  EXPECT_EQ(second.get("nccl_id", 1s), "two");
  EXPECT_EQ(store->get("attempt-1/nccl_id", 1s), "one");  // the inner store sees the full key
  EXPECT_THROW(store->get("nccl_id", 0ms), kiln::Error);   // and nothing unprefixed
}

TEST_P(PrefixStoreIsolation, CountersAndWaitsStayInTheirNamespace) {
  PrefixStore first("attempt-1", *store), second("attempt-2", *store);
  EXPECT_EQ(first.add("joined", 3), 3);
  EXPECT_EQ(second.add("joined", 1), 1);
  EXPECT_EQ(first.add("joined", 0), 3);
  first.set("ready", "yes");
  first.wait({"ready", "joined"}, 0ms);
  const std::string msg = error_of([&] { second.wait({"ready", "joined"}, 0ms); });
  EXPECT_NE(msg.find("key 'attempt-2/ready' never set"), std::string::npos) << msg;
}

TEST_P(PrefixStoreIsolation, BarriersInDifferentNamespacesDoNotMeet) {
  // Rank 0 of attempt 1 and rank 1 of attempt 2 make a world of two only if the namespaces leak.
  std::string error0, error1;
  auto rank1 = world->rank(1);
  std::thread t([&] { error1 = error_of([&] { PrefixStore("attempt-2", *rank1).barrier("start", 2, 500ms); }); });
  error0 = error_of([&] { PrefixStore("attempt-1", *store).barrier("start", 2, 500ms); });
  t.join();
  EXPECT_EQ(error0, "barrier 'attempt-1/start' timed out after 500 ms: rank 1 has not arrived");
  EXPECT_EQ(error1, "barrier 'attempt-2/start' timed out after 500 ms: rank 0 has not arrived");
}

TEST_P(PrefixStoreIsolation, PrefixesNest) {
  PrefixStore job("job-7", *store);
  PrefixStore attempt("attempt-2", job);
  attempt.set("k", "v");
  EXPECT_EQ(store->get("job-7/attempt-2/k", 1s), "v");
  EXPECT_EQ(attempt.key("k"), "attempt-2/k");
}

TEST_P(PrefixStoreIsolation, RankAndServerAreTheInnerStores) {
  auto rank3 = world->rank(3);
  PrefixStore p("sub", *rank3);
  EXPECT_EQ(p.rank(), 3);
  EXPECT_EQ(p.server(), rank3->server());
}

TEST_P(PrefixStoreIsolation, AnEmptyPrefixIsRefused) { EXPECT_THROW(PrefixStore("", *store), kiln::UsageError); }

INSTANTIATE_TEST_SUITE_P(Over, PrefixStoreIsolation,
                         ::testing::Values(InnerKind{"Hash", [] { return std::unique_ptr<StoreWorld>(new HashWorld); }},
                                           InnerKind{"Tcp", [] { return std::unique_ptr<StoreWorld>(new TcpWorld); }}),
                         [](const ::testing::TestParamInfo<InnerKind>& info) { return std::string(info.param.name); });
