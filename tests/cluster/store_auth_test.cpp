// Hostile or broken peers: a wrong token, garbage, a frame claiming 1 GiB, a silent connection. Each is dropped
// alone; the server and the well-behaved clients carry on. The raw frames here spell out the wire format.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// Frame building, independent of the library: u32 big-endian length, then type byte and fields.
struct Bytes {
  std::string b;
  Bytes& u8(uint8_t v) { return b.push_back(static_cast<char>(v)), *this; }
  Bytes& u32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) u8(static_cast<uint8_t>(v >> s));
    return *this;
  }
  Bytes& i64(int64_t v) {
    for (int s = 56; s >= 0; s -= 8) u8(static_cast<uint8_t>(static_cast<uint64_t>(v) >> s));
    return *this;
  }
  Bytes& str(const std::string& s) { return u32(static_cast<uint32_t>(s.size())), b += s, *this; }
  std::string frame() const { return Bytes().u32(static_cast<uint32_t>(b.size())).b + b; }
};

std::string hello(const std::string& token, int rank) {
  return Bytes().u8(1).u32(0x4B494C4E).u32(2).str(token).i64(rank).str("raw-host").u8(0).frame();
}

// A plain socket, so the test controls every byte.
class RawPeer {
 public:
  explicit RawPeer(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  }
  ~RawPeer() { ::close(fd_); }
  void send_bytes(const std::string& bytes) {
    EXPECT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  // Reads until the server closes the connection (true) or the limit passes (false). Any reply is discarded.
  bool closed_by_server(std::chrono::milliseconds limit = kLong) {
    const auto end = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return true;
      if (n > 0) received_.append(buf, static_cast<size_t>(n));
    }
    return false;
  }
  // Waits for exactly n bytes (a reply).
  std::string read_exactly(size_t n) {
    std::string out;
    char buf[256];
    while (out.size() < n) {
      const ssize_t got = recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0) break;
      out.append(buf, static_cast<size_t>(got));
    }
    return out;
  }
  const std::string& received() const { return received_; }

 private:
  int fd_;
  std::string received_;
};

// The job goes on: a well-behaved client can still use the store.
void expect_store_works(const StoreServer& server) {
  StoreClient c(client_options(server, 0));
  c.set("still", "working");
  EXPECT_EQ(c.get("still", 5s), "working");
}

}  // namespace

TEST(StoreAuth, WrongTokenIsRejectedAndOtherClientsKeepWorking) {
  StoreServer server(server_options());
  StoreClient good(client_options(server, 0));
  good.set("before", "1");
  auto bad = client_options(server, 1);
  bad.token = make_job_token();
  try {
    StoreClient c(bad);
    FAIL() << "a client with the wrong token got in";
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rejected rank 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("wrong job token"), std::string::npos) << msg;
    EXPECT_NE(msg.find("KILN_JOB_TOKEN"), std::string::npos) << msg;
  }
  EXPECT_EQ(good.get("before", 5s), "1");
  expect_store_works(server);
}

TEST(StoreAuth, GarbageIsDropped) {
  StoreServer server(server_options());
  StoreClient good(client_options(server, 0));
  RawPeer http(server.port());
  http.send_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // "GET " read as a length: ~1.2 GB
  EXPECT_TRUE(http.closed_by_server());
  EXPECT_TRUE(http.received().empty());  // an unauthenticated peer learns nothing
  good.set("k", "v");
  expect_store_works(server);
}

TEST(StoreAuth, OneGibFrameHeaderIsDroppedBeforeAndAfterHello) {
  StoreServer server(server_options());
  StoreClient good(client_options(server, 0));
  RawPeer early(server.port());
  early.send_bytes(Bytes().u32(1u << 30).b);
  EXPECT_TRUE(early.closed_by_server());

  RawPeer late(server.port());
  late.send_bytes(hello(server.token(), 5));
  EXPECT_EQ(late.read_exactly(9), Bytes().u8(30).u32(2).frame());  // HELLO_OK, version 2
  late.send_bytes(Bytes().u32(1u << 30).b);
  EXPECT_TRUE(late.closed_by_server());
  good.set("k", "v");
  expect_store_works(server);
}

TEST(StoreAuth, MalformedFramesAreDropped) {
  StoreServer server(server_options());
  const std::vector<std::string> after_hello = {
      Bytes().u8(99).frame(),                               // unknown message type
      Bytes().u8(10).u32(1000).frame(),                     // SET whose key length runs past the frame
      Bytes().u8(10).str("k").str("v").u8(0).frame(),       // trailing byte
      Bytes().u8(30).u32(1).frame(),                        // a server-only message
      Bytes().u32(0).b,                                     // zero-length frame
  };
  for (size_t i = 0; i < after_hello.size(); ++i) {
    RawPeer p(server.port());
    p.send_bytes(hello(server.token(), 1));
    p.send_bytes(after_hello[i]);
    EXPECT_TRUE(p.closed_by_server()) << "case " << i;
  }
  RawPeer not_hello(server.port());
  not_hello.send_bytes(Bytes().u8(10).str("k").str("v").frame());  // SET as the first frame
  EXPECT_TRUE(not_hello.closed_by_server());
  RawPeer bad_magic(server.port());
  bad_magic.send_bytes(Bytes().u8(1).u32(0xdeadbeef).u32(1).str("x").i64(0).str("h").u8(0).frame());
  EXPECT_TRUE(bad_magic.closed_by_server());
  expect_store_works(server);
}

TEST(StoreAuth, SilentPeerIsDroppedAfterTheHelloTimeout) {
  auto o = server_options();
  o.hello_timeout = 200ms;
  StoreServer server(o);
  RawPeer silent(server.port());
  EXPECT_TRUE(silent.closed_by_server());
  expect_store_works(server);
}

TEST(StoreAuth, OversizedFrameFromAnAuthenticatedClientDropsOnlyThatClient) {
  auto o = server_options();
  o.max_frame_bytes = 64 << 10;
  StoreServer server(o);
  StoreClient other(client_options(server, 0));
  StoreClient big(client_options(server, 1));  // its own cap is the default 64 MiB, so it sends
  try {
    big.set("blob", std::string(256 << 10, 'x'));
    FAIL() << "the server took a frame over its cap";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lost connection to the store server"), std::string::npos) << e.what();
  }
  EXPECT_THROW(big.set("k", "v"), kiln::Error);  // that connection is gone for good
  other.set("k", "v");
  EXPECT_EQ(other.get("k", 5s), "v");
}

TEST(StoreAuth, IdleStrangersAreCappedAndTheRanksStillGetIn) {
  StoreServerOptions o = server_options();
  o.max_unauthenticated = 8;
  StoreServer server(o);
  std::vector<std::unique_ptr<RawPeer>> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(std::make_unique<RawPeer>(server.port()));
  // Every connection beyond the cap pushed out the oldest silent one: at most 8 wait, whatever the flood.
  const auto end = std::chrono::steady_clock::now() + kLong;
  while (server.unauthenticated_count() > 8 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  EXPECT_LE(server.unauthenticated_count(), 8u);
  EXPECT_TRUE(idle.front()->closed_by_server(kLong)) << "the oldest silent peer was dropped";
  expect_store_works(server);  // a rank says HELLO at once and gets in
}

TEST(StoreAuth, RejectionsAreSummarisedNotLoggedOneByOne) {
  ::testing::internal::CaptureStderr();
  {
    StoreServer server(server_options());
    for (int i = 0; i < 60; ++i) {
      RawPeer stranger(server.port());
      stranger.send_bytes(hello("not-the-token", 7));
      EXPECT_TRUE(stranger.closed_by_server());
    }
    expect_store_works(server);
  }  // stopping the server writes the summary of what was counted
  const std::string err = ::testing::internal::GetCapturedStderr();
  size_t lines = 0;  // one-by-one lines; the summary quotes the last rejection too
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    lines += line.find("store: rejected") != std::string::npos && line.find("more connection(s)") == std::string::npos;
  EXPECT_EQ(lines, 5u) << err;
  EXPECT_NE(err.find("further rejections are summarised"), std::string::npos) << err;
  EXPECT_NE(err.find("store: 55 more connection(s) rejected in 10 s; the last: store: rejected"), std::string::npos)
      << err;
}

TEST(ControlPlaneBind, NoWiderThanTheJobNeeds) {
  ClusterConfig c;
  EXPECT_EQ(control_plane_bind_address(c, /*single_host=*/true), "127.0.0.1");
  EXPECT_EQ(control_plane_bind_address(c, false), "0.0.0.0");
  c.network.interface = "lo";
  EXPECT_EQ(control_plane_bind_address(c, false), "127.0.0.1") << "the named NIC's address";
  c.network.master_addr = "10.1.2.3";
  EXPECT_EQ(control_plane_bind_address(c, false), "10.1.2.3");
  c.network.master_addr = "";
  c.network.interface = "kiln-no-such-nic0";
  EXPECT_EQ(control_plane_bind_address(c, false), "0.0.0.0") << "a launching host without the ranks' NIC";
}
