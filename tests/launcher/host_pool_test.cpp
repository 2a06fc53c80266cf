// --nnodes MIN:MAX: which hosts a relaunch leaves out (launcher/include/kiln/launcher/host_pool.h).
#include "kiln/launcher/host_pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "kiln/common/error.h"

using kiln::launcher::HostPool;
using kiln::launcher::NodeRange;
using kiln::launcher::parse_nnodes;

namespace {

kiln::cluster::ClusterConfig three_hosts() {
  kiln::cluster::ClusterConfig c;
  c.launcher = kiln::cluster::Launcher::kMpirun;
  c.nodes = {{"a", 2, {}}, {"b", 2, {}}, {"c", 2, {}}};
  return c;
}

std::vector<std::string> hosts(const HostPool& p) {
  std::vector<std::string> out;
  for (const auto& n : p.config().nodes) out.push_back(n.host);
  return out;
}

}  // namespace

TEST(HostPool, ParsesMinMaxLikeTorchrun) {
  EXPECT_EQ(parse_nnodes("2:3").min, 2);
  EXPECT_EQ(parse_nnodes("2:3").max, 3);
  EXPECT_EQ(parse_nnodes("4").min, 4);
  EXPECT_EQ(parse_nnodes("4").max, 4);
  for (const char* bad : {"", "0:2", "3:2", "a:b", "2:", "-1:2"}) EXPECT_THROW(parse_nnodes(bad), kiln::UsageError) << bad;
}

TEST(HostPool, MaxIsTheHostsTheFileLists) {
  EXPECT_NO_THROW(HostPool(three_hosts(), parse_nnodes("1:3")));
  EXPECT_THROW(HostPool(three_hosts(), parse_nnodes("1:4")), kiln::UsageError);
}

TEST(HostPool, AHostBlamedTwiceIsLeftOutAndTheRanksFollowTheRest) {
  HostPool pool(three_hosts(), parse_nnodes("2:3"));
  const auto answers = [](const std::string&) { return std::string(); };
  EXPECT_EQ(pool.host_of_rank(3), "b");  // 2 slots a host
  pool.blame("b");
  EXPECT_TRUE(pool.prune(answers).empty());  // once is bad luck
  EXPECT_EQ(pool.config().world_size(), 6);
  pool.blame("b");
  pool.blame("nobody");  // not a host of the pool: ignored
  const auto notes = pool.prune(answers);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "host b is left out: its ranks failed 2 times");
  EXPECT_EQ(hosts(pool), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(pool.config().world_size(), 4);
  EXPECT_EQ(pool.host_of_rank(3), "c");
}

TEST(HostPool, ASilentHostIsLeftOutButNeverBelowMin) {
  HostPool pool(three_hosts(), parse_nnodes("2:3"));
  std::set<std::string> silent{"c"};
  const auto probe = [&](const std::string& h) { return silent.count(h) ? std::string("no answer within 2000 ms") : ""; };
  EXPECT_EQ(pool.prune(probe), (std::vector<std::string>{"host c is left out: it does not answer (no answer within 2000 ms)"}));
  silent.insert("a");
  try {
    pool.prune(probe);
    FAIL() << "went on below MIN";
  } catch (const kiln::Error& e) {
    EXPECT_EQ(e.code(), kiln::ExitCode::kRankFailed);
    EXPECT_EQ(std::string(e.what()), "--nnodes 2:3: only 1 host(s) left (without a); host a is left out: it does not "
                                     "answer (no answer within 2000 ms)");
  }
}

// The real probe: a host that refuses the connection is up; one that does not exist is not.
TEST(HostPool, TheProbeCountsARefusalAsAnAnswer) {
  EXPECT_EQ(kiln::launcher::probe_tcp("127.0.0.1"), "");  // nothing listens on 22 here, or sshd does: either answers
  EXPECT_NE(kiln::launcher::probe_tcp("no-such-host.invalid"), "");
}
