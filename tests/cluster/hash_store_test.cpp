// HashStore's own parts: handles for ranks on one store's data, and separate stores that share nothing. Its
// semantics are the behavioural suite's (store_behaviour_test.cpp).
#include <gtest/gtest.h>

#include <memory>

#include "cluster/store_worlds.h"
#include "kiln/cluster/hash_store.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

TEST(HashStore, HandlesForOtherRanksShareTheData) {
  HashStore store;  // rank 0
  HashStore rank1 = store.handle(1);
  EXPECT_EQ(store.rank(), 0);
  EXPECT_EQ(rank1.rank(), 1);
  rank1.set("k", "from rank 1");
  EXPECT_EQ(store.get("k", 0ms), "from rank 1");
  HashStore copy = rank1;  // a copy is the same rank on the same data
  EXPECT_EQ(copy.rank(), 1);
  EXPECT_EQ(copy.add("n", 2), 2);
  EXPECT_EQ(store.add("n", 0), 2);
}

TEST(HashStore, SeparateStoresShareNothing) {
  HashStore a, b;
  a.set("k", "a");
  EXPECT_THROW(b.get("k", 0ms), kiln::Error);
}

TEST(HashStore, TheDataLivesAsLongAsAnyHandle) {
  auto first = std::make_unique<HashStore>();
  first->set("k", "kept");
  HashStore later = first->handle(2);
  first.reset();
  EXPECT_EQ(later.get("k", 0ms), "kept");
}

TEST(HashStore, MessagesNameTheStore) {
  HashStore store(4, "job-3 store");
  EXPECT_EQ(store.server(), "job-3 store");
  EXPECT_EQ(error_of([&] { store.get("id", 0ms); }),
            "store get 'id' timed out after 0 ms: no rank has set that key (rank 4, store job-3 store)");
}
