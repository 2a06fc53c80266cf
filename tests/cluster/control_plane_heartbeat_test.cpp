// Liveness: a rank whose heartbeats stop is declared dead and every other rank gets ABORT naming it; a rank that
// says GOODBYE is not. Short timeouts, but generous polling limits: nothing here asserts speed.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"
#include "kiln/common/error.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

// Dead after 16 missed beats: a loaded machine does not fake a death.
ControlPlaneOptions fast() { return fast_heartbeats(800ms); }

std::unique_ptr<ControlPlaneClient> rank(const ControlPlaneServer& server, int r, const std::string& host) {
  return connect_rank(server, r, host, fast());
}

// A server that accepts one rank (HELLO_OK, protocol version 2) and then reads everything and says nothing, as a
// server behind a link that went down looks from the rank's side: no echo, no RST.
class MuteServer {
 public:
  MuteServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("MuteServer: cannot listen on 127.0.0.1");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~MuteServer() {
    ::shutdown(listener_, SHUT_RDWR);
    if (peer_ >= 0) ::shutdown(peer_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    if (peer_ >= 0) ::close(peer_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    peer_ = ::accept(listener_, nullptr, nullptr);
    if (peer_ < 0) return;
    unsigned char header[4];
    if (::recv(peer_, header, 4, MSG_WAITALL) != 4) return;
    std::vector<char> hello((header[0] << 24) | (header[1] << 16) | (header[2] << 8) | header[3]);
    if (::recv(peer_, hello.data(), hello.size(), MSG_WAITALL) != static_cast<ssize_t>(hello.size())) return;
    const unsigned char ok[] = {0, 0, 0, 5, 30, 0, 0, 0, 2};  // HELLO_OK, version 2
    if (::send(peer_, ok, sizeof ok, MSG_NOSIGNAL) != sizeof ok) return;
    char sink[4096];
    while (::recv(peer_, sink, sizeof sink, 0) > 0) {
    }
  }
  int listener_ = -1;
  int peer_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// A rank's monitor connection written by hand, so a test decides when each heartbeat goes.
class HandRank {
 public:
  HandRank(uint16_t port, const std::string& token, int rank) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("HandRank: connect");
    std::string hello;
    u8(hello, 1), u32(hello, 0x4B494C4E), u32(hello, 2), str(hello, token), i64(hello, rank), str(hello, "hand"),
        u8(hello, 1);
    send(hello);
    char ok[9];
    if (::recv(fd_, ok, sizeof ok, MSG_WAITALL) != 9 || ok[4] != 30) throw std::runtime_error("HandRank: no HELLO_OK");
  }
  ~HandRank() { ::close(fd_); }
  void beat(int64_t step) {
    std::string frame;
    u8(frame, 20), i64(frame, step);
    send(frame);
  }

 private:
  static void u8(std::string& b, int v) { b.push_back(static_cast<char>(v)); }
  static void u32(std::string& b, uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((v >> s) & 0xff));
  }
  static void i64(std::string& b, int64_t v) {
    for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<char>((static_cast<uint64_t>(v) >> s) & 0xff));
  }
  static void str(std::string& b, const std::string& v) { u32(b, static_cast<uint32_t>(v.size())), b += v; }
  void send(const std::string& payload) {
    std::string frame;
    u32(frame, static_cast<uint32_t>(payload.size()));
    frame += payload;
    ::send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL);
  }
  int fd_ = -1;
};

double reported_silence(const std::string& reason) {
  const size_t at = reason.find("(silent for ");
  return at == std::string::npos ? -1 : std::stod(reason.substr(at + 12));
}

}  // namespace

// A rank whose heartbeats have been coming late (a starved host) is given twice its longest recent gap before it is
// declared dead, rather than the fixed limit; a rank that goes quiet for good is still declared dead.
TEST(ControlPlaneHeartbeat, ARankWhoseHeartbeatsLagGetsALongerLimit) {
  ControlPlaneServer server(server_options(), fast_heartbeats(500ms));
  auto steady = connect_rank(server, 0, "node01", fast_heartbeats(500ms));
  HandRank lagging(server.port(), server.token(), 1);
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(450ms);  // late, but within the fixed limit
    lagging.beat(i);
  }
  std::this_thread::sleep_for(700ms);  // past the fixed 500 ms, within twice its usual 450 ms
  lagging.beat(4);
  EXPECT_FALSE(steady->aborted()) << steady->abort_reason();
  ASSERT_TRUE(eventually([&] { return steady->aborted(); }));  // and now it stays silent
  EXPECT_TRUE(contains(steady->abort_reason(), "rank 1 (host hand) stopped sending heartbeats at step 4"))
      << steady->abort_reason();
}

// Every rank silent at once: the observer (an overloaded launcher host) is suspected first, and the ranks are
// declared dead only after three times the limit; then all of them are named.
TEST(ControlPlaneHeartbeat, EveryRankSilentAtOnceIsGivenThreeTimesTheLimit) {
  ControlPlaneServer server(server_options(), fast_heartbeats(300ms));
  std::mutex mu;
  std::string reason;
  server.on_rank_failure([&](const RankFailure& f) {
    std::lock_guard<std::mutex> lock(mu);
    reason = f.reason;
  });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  r0->stop_heartbeats_for_testing();
  r1->stop_heartbeats_for_testing();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !reason.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_GE(reported_silence(reason), 0.85) << reason;  // 3 x 300 ms, printed to a tenth
  EXPECT_TRUE(contains(reason, "rank 0 (host node01)") && contains(reason, "rank 1 (host node02)")) << reason;
}

// The server echoes every heartbeat; a rank that hears nothing for dead_after is cut off from it (the server has
// declared it dead by then) and aborts itself instead of waiting in a collective for peers that have gone.
TEST(ControlPlaneHeartbeat, ARankCutOffFromTheServerAbortsItself) {
  MuteServer mute;
  ControlPlaneClient client(client_options(mute.port(), kiln::cluster::make_job_token(), 1), fast_heartbeats(400ms));
  ASSERT_TRUE(eventually([&] { return client.aborted(); }));
  EXPECT_TRUE(contains(client.abort_reason(), "(no word from it for ")) << client.abort_reason();
  EXPECT_TRUE(contains(client.abort_reason(), "the network between this host and the server is down"))
      << client.abort_reason();
}

// ... while a rank of a server that answers stays up, however long it is idle.
TEST(ControlPlaneHeartbeat, ARankThatHearsTheServerStaysUp) {
  ControlPlaneServer server(server_options(), fast_heartbeats(400ms));
  auto r0 = connect_rank(server, 0, "node01", fast_heartbeats(400ms));
  std::this_thread::sleep_for(1500ms);  // several times dead_after
  EXPECT_FALSE(r0->aborted()) << r0->abort_reason();
}

TEST(ControlPlaneHeartbeat, SilentRankAbortsEveryoneElseNamingRankHostAndStep) {
  ControlPlaneServer server(server_options(), fast());
  std::mutex mu;
  std::vector<RankFailure> failures;
  server.on_rank_failure([&](const RankFailure& f) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(f);
  });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  auto r2 = rank(server, 2, "node03");
  std::atomic<int> calls{0};
  std::atomic<bool> on_test_thread{false};
  const auto test_thread = std::this_thread::get_id();
  for (auto* c : {r0.get(), r2.get()})
    c->on_abort([&](const std::string&) {
      ++calls;
      if (std::this_thread::get_id() == test_thread) on_test_thread = true;
    });

  r1->set_step(120);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 1, 120); }));
  r1->stop_heartbeats_for_testing();  // a hung rank: connected, silent

  ASSERT_TRUE(eventually([&] { return r0->aborted() && r2->aborted(); }));
  for (auto* c : {r0.get(), r2.get()}) {
    EXPECT_TRUE(contains(c->abort_reason(), "rank 1 (host node02) stopped sending heartbeats at step 120"))
        << c->abort_reason();
  }
  EXPECT_TRUE(eventually([&] { return calls.load() == 2; }));
  EXPECT_FALSE(on_test_thread);  // delivered on each client's own thread
  ASSERT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !failures.empty();
  }));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].kind, RankFailure::Kind::kHeartbeatLost);
  EXPECT_EQ(failures[0].rank, 1);
  EXPECT_EQ(failures[0].host, "node02");
  EXPECT_EQ(failures[0].step, 120);
  EXPECT_TRUE(server.aborted());
  EXPECT_EQ(server.abort_reason(), failures[0].reason);
}

TEST(ControlPlaneHeartbeat, GoodbyeIsACleanExitNotAFailure) {
  ControlPlaneServer server(server_options(), fast());
  std::atomic<int> failures{0};
  server.on_rank_failure([&](const RankFailure&) { ++failures; });
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  r1->set_step(5);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 1, 5); }));
  r1->close();
  r1->close();  // idempotent
  r1.reset();
  ASSERT_TRUE(eventually([&] {
    for (const auto& s : server.ranks())
      if (s.rank == 1) return s.state == RankStatus::State::kFinished;
    return false;
  }));
  // Well past the heartbeat timeout: still nobody aborted.
  std::this_thread::sleep_for(3 * fast().dead_after);
  EXPECT_FALSE(r0->aborted()) << r0->abort_reason();
  EXPECT_FALSE(server.aborted()) << server.abort_reason();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ControlPlaneHeartbeat, ServerReportsEveryRanksStep) {
  ControlPlaneServer server(server_options(), fast());
  auto r0 = rank(server, 0, "node01");
  auto r1 = rank(server, 1, "node02");
  r0->set_step(10);
  r1->set_step(11);
  ASSERT_TRUE(eventually([&] { return server_sees_step(server, 0, 10) && server_sees_step(server, 1, 11); }));
  const auto ranks = server.ranks();
  ASSERT_EQ(ranks.size(), 2u);
  EXPECT_EQ(ranks[1].host, "node02");
  EXPECT_EQ(ranks[1].state, RankStatus::State::kAlive);
}

TEST(ControlPlaneHeartbeat, OptionsFromEnvironment) {
  setenv(kiln::knob::kHeartbeatPeriodMs.name, "200", 1);
  setenv(kiln::knob::kHeartbeatTimeoutMs.name, "900", 1);
  auto o = ControlPlaneOptions::from_env();
  EXPECT_EQ(o.heartbeat_period, 200ms);
  EXPECT_EQ(o.dead_after, 900ms);
  setenv(kiln::knob::kHeartbeatTimeoutMs.name, "100", 1);  // dead before the next beat could arrive
  EXPECT_THROW(ControlPlaneOptions::from_env(), kiln::UsageError);
  unsetenv(kiln::knob::kHeartbeatPeriodMs.name);
  unsetenv(kiln::knob::kHeartbeatTimeoutMs.name);
  o = ControlPlaneOptions::from_env();
  EXPECT_EQ(o.heartbeat_period, kDefaultHeartbeatPeriod);
  EXPECT_EQ(o.dead_after, kDefaultDeadAfter);
}
