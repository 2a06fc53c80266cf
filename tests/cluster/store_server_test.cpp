// The server's lifecycle: ports, binding errors, clients that start first, shutdown with clients still blocked,
// and the job token helpers.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/rank_env.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// A port that was free a moment ago (bound by the OS for us, then released).
uint16_t recently_free_port() { return StoreServer(server_options()).port(); }

}  // namespace

TEST(StoreServer, PortZeroGivesEachServerItsOwnPort) {
  StoreServer a(server_options());
  StoreServer b(server_options());
  EXPECT_NE(a.port(), 0);
  EXPECT_NE(b.port(), 0);
  EXPECT_NE(a.port(), b.port());
  StoreClient ca(client_options(a.port(), a.token()));
  StoreClient cb(client_options(b.port(), b.token()));
  ca.set("k", "a");
  cb.set("k", "b");
  EXPECT_EQ(ca.get("k", 1s), "a");
  EXPECT_EQ(cb.get("k", 1s), "b");
}

TEST(StoreServer, DefaultAddressListensOnAllInterfaces) {
  StoreServerOptions o;
  o.token = make_job_token();
  StoreServer server(o);
  EXPECT_EQ(server.address(), "0.0.0.0");
  StoreClient c(client_options(server.port(), server.token()));
  c.set("k", "v");
}

TEST(StoreServer, ListensOnAGivenPort) {
  const uint16_t port = recently_free_port();
  StoreServer server(server_options(port));
  EXPECT_EQ(server.port(), port);
}

TEST(StoreServer, TakenPortIsAnErrorNamingTheAddress) {
  StoreServer first(server_options());
  try {
    StoreServer second(server_options(first.port()));
    FAIL() << "two servers listen on one port";
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())), std::string::npos) << msg;
    EXPECT_NE(msg.find("in use"), std::string::npos) << msg;
  }
}

TEST(StoreServer, BadAddressOrEmptyTokenIsAUsageError) {
  auto o = server_options();
  o.address = "not-an-ip";
  EXPECT_THROW(StoreServer{o}, kiln::UsageError);
  o = server_options();
  o.token.clear();
  EXPECT_THROW(StoreServer{o}, kiln::UsageError);
}

TEST(StoreServer, ClientRetriesUntilTheServerStarts) {
  const uint16_t port = recently_free_port();
  const std::string token = make_job_token();
  auto client = std::async(std::launch::async, [&] {
    auto o = client_options(port, token, 1);
    o.connect_timeout = kLong;
    StoreClient c(o);
    return c.get("ready", kLong);
  });
  std::this_thread::sleep_for(300ms);  // the client is retrying meanwhile
  auto so = server_options(port);
  so.token = token;
  StoreServer server(so);
  StoreClient(client_options(port, token, 0)).set("ready", "yes");
  EXPECT_EQ(client.get(), "yes");
}

TEST(StoreServer, ConnectTimeoutNamesTheServer) {
  const uint16_t port = recently_free_port();
  auto o = client_options(port, make_job_token(), 2);
  o.connect_timeout = 300ms;
  try {
    StoreClient c(o);
    FAIL() << "connected to nothing";
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 2 could not reach the kiln store at 127.0.0.1:" + std::to_string(port) +
                       " within 300 ms"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("KILN_MASTER_PORT"), std::string::npos) << msg;
  }
}

TEST(StoreServer, ShutdownWithABlockedClientDoesNotHang) {
  auto server = std::make_unique<StoreServer>(server_options());
  StoreClient c(client_options(server->port(), server->token()));
  auto blocked = std::async(std::launch::async, [&] {
    try {
      c.get("never", 60s);
    } catch (const kiln::Error& e) {
      return std::string(e.what());
    }
    return std::string("(returned)");
  });
  std::this_thread::sleep_for(100ms);
  server.reset();  // must return even though a request is parked
  const std::string msg = blocked.get();
  EXPECT_NE(msg.find("lost connection"), std::string::npos) << msg;
  // Later calls fail fast with the earlier reason.
  try {
    c.set("k", "v");
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unusable after an earlier error"), std::string::npos) << e.what();
  }
}

TEST(StoreServer, CountsAuthenticatedConnections) {
  StoreServer server(server_options());
  EXPECT_EQ(server.connection_count(), 0u);
  {
    StoreClient a(client_options(server.port(), server.token()));
    StoreClient b(client_options(server.port(), server.token(), 1));
    EXPECT_EQ(server.connection_count(), 2u);  // HELLO_OK is sent only after counting
  }
  EXPECT_TRUE(eventually([&] { return server.connection_count() == 0; }));
}

TEST(StoreServer, SpawnedProcessesDoNotInheritStoreSockets) {
  // The launcher starts workers while the server runs: a listening socket leaked into them would outlive the
  // launcher, and leaked connections would hide closes. popen() forks and execs a shell, like a launcher would.
  StoreServer server(server_options());
  StoreClient c(client_options(server.port(), server.token()));
  c.set("k", "v");
  FILE* ls = popen("ls -l /proc/self/fd", "r");
  ASSERT_NE(ls, nullptr);
  std::string listing;
  char buf[512];
  while (fgets(buf, sizeof buf, ls)) listing += buf;
  pclose(ls);
  EXPECT_EQ(listing.find("socket:"), std::string::npos) << listing;
}

TEST(StoreJobToken, IsThirtyTwoHexCharactersAndFreshEachTime) {
  const std::string a = make_job_token(), b = make_job_token();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_TRUE(is_valid_job_token(a));
  EXPECT_NE(a, b);
  EXPECT_FALSE(is_valid_job_token("abc"));
  EXPECT_FALSE(is_valid_job_token(std::string(32, 'g')));
}

TEST(StoreJobToken, FromEnvironment) {
  unsetenv(kEnvJobToken);
  EXPECT_THROW(job_token_from_env(), kiln::UsageError);
  setenv(kEnvJobToken, "short", 1);
  EXPECT_THROW(job_token_from_env(), kiln::UsageError);
  const std::string token = make_job_token();
  setenv(kEnvJobToken, token.c_str(), 1);
  EXPECT_EQ(job_token_from_env(), token);

  RankInfo info;
  info.rank = 3;
  info.world_size = 4;
  info.master_addr = "node01";
  info.master_port = 29500;
  const auto o = StoreClientOptions::from_env(info);
  EXPECT_EQ(o.host, "node01");
  EXPECT_EQ(o.port, 29500);
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.token, token);
  info.master_port = 0;
  EXPECT_THROW(StoreClientOptions::from_env(info), kiln::UsageError);
  unsetenv(kEnvJobToken);
}
