// What only the TCP client does: refuse a request over its frame cap before sending it. Everything a Store does is
// in the behavioural suite (store_behaviour_test.cpp), run against this client among others.
#include <gtest/gtest.h>

#include "cluster/store_worlds.h"
#include "kiln/cluster/tcp_store.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

TEST(StoreClient, RequestOverTheClientCapIsRefusedBeforeSending) {
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
