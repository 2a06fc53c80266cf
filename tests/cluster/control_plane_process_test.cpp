// Real processes: a forked child joins as rank 1 and then dies (exits without GOODBYE, or SIGKILL); rank 0 in the
// parent must get ABORT naming it. The child is forked before any thread exists in this process, and learns the
// port through a pipe, so it never inherits a lock held by another thread.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/control_plane.h"

using namespace kiln::cluster;
using namespace kiln::cluster::test;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kChildStep = 42;

enum class Death { kExit, kSigkill };

// Blocking read of one value with a limit, so a broken child cannot hang the test.
template <typename T>
bool read_value(int fd, T& out, int limit_ms) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, limit_ms) <= 0) return false;
  return read(fd, &out, sizeof out) == static_cast<ssize_t>(sizeof out);
}

[[noreturn]] void child(int from_parent, int to_parent, const std::string& token) {
  uint16_t port = 0;
  if (!read_value(from_parent, port, 60000)) _exit(90);
  try {
    StoreClientOptions o;
    o.port = port;
    o.token = token;
    o.rank = 1;
    o.peer_host = "child-host";
    ControlPlaneOptions cp;
    cp.heartbeat_period = 100ms;
    ControlPlaneClient client(o, cp);
    client.set_step(kChildStep);
    const char ready = 1;
    if (write(to_parent, &ready, 1) != 1) _exit(91);
    char go = 0;
    read_value(from_parent, go, 60000);  // SIGKILL usually arrives while waiting here
    _exit(0);  // no destructors, so no GOODBYE: a crash as far as the server can tell
  } catch (...) {
    _exit(92);
  }
}

void run(Death death) {
  const std::string token = make_job_token();
  int down[2], up[2];
  ASSERT_EQ(pipe(down), 0);
  ASSERT_EQ(pipe(up), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    child(down[0], up[1], token);
  }
  close(down[0]);
  close(up[1]);
  struct Reaper {  // the child never outlives the test, whatever fails
    pid_t pid;
    ~Reaper() {
      if (pid > 0) kill(pid, SIGKILL), waitpid(pid, nullptr, 0);
    }
  } reaper{pid};

  StoreServerOptions so;
  so.address = "127.0.0.1";
  so.token = token;
  ControlPlaneServer server(so, ControlPlaneOptions{});  // production timings: 1 s heartbeats, dead after 3 s
  StoreClientOptions o;
  o.port = server.port();
  o.token = token;
  o.rank = 0;
  o.peer_host = "parent-host";
  ControlPlaneClient rank0(o);

  const uint16_t port = server.port();
  ASSERT_EQ(write(down[1], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  char ready = 0;
  ASSERT_TRUE(read_value(up[0], ready, 60000)) << "the child did not connect";
  ASSERT_TRUE(eventually([&] {
    for (const auto& s : server.ranks())
      if (s.rank == 1 && s.step == kChildStep) return true;
    return false;
  }));

  if (death == Death::kSigkill) {
    kill(pid, SIGKILL);
  } else {
    const char go = 1;
    ASSERT_EQ(write(down[1], &go, 1), 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  reaper.pid = -1;
  if (death == Death::kSigkill)
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  else
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;

  // The design's bound is ~4 s (dead after 3 s); a closed connection is seen at once. The limit here is generous.
  ASSERT_TRUE(eventually([&] { return rank0.aborted(); }));
  EXPECT_EQ(rank0.abort_reason(), "rank 1 (host child-host) exited (connection closed) at step 42");
  close(down[1]);
  close(up[0]);
}

}  // namespace

TEST(ControlPlaneProcess, ChildThatExitsWithoutGoodbyeAbortsRankZero) { run(Death::kExit); }

TEST(ControlPlaneProcess, ChildKilledWithSigkillAbortsRankZero) { run(Death::kSigkill); }
