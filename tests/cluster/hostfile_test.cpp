// Open MPI / DeepSpeed hostfiles (values, notes, every problem with file:line:column) and DeepSpeed's
// --include/--exclude host and slot filters.
#include <gtest/gtest.h>

#include "kiln/cluster/cluster_config.h"

namespace kiln::cluster {
namespace {

using Lines = std::vector<std::string>;

Lines problems(const std::string& text) {
  Lines lines;
  try {
    parse_hostfile(text, "hosts");
    ADD_FAILURE() << "expected a SpecError for:\n" << text;
  } catch (const specs::SpecError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    for (const auto& issue : e.issues()) lines.push_back(issue.str());
  }
  return lines;
}

std::string filter_error(const ClusterConfig& c, const std::string& include, const std::string& exclude) {
  try {
    filter_hosts(c, include, exclude);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no error";
}

// "host:slots[gpu,gpu]" per node, for compact expectations.
std::string shape(const ClusterConfig& c) {
  std::string text;
  for (const Node& n : c.nodes) {
    text += (text.empty() ? "" : " ") + n.host + ":" + std::to_string(n.slots);
    if (!n.gpus.empty()) {
      text += "[";
      for (size_t i = 0; i < n.gpus.size(); ++i) text += (i ? "," : "") + std::to_string(n.gpus[i]);
      text += "]";
    }
  }
  return text;
}

const char* kFourHosts = "a slots=4\nb slots=4\nc slots=2\nd slots=1\n";

TEST(Hostfile, OpenMpiAndDeepSpeedLines) {
  Lines notes;
  const ClusterConfig c = parse_hostfile(
      "# lab hosts\n"
      "\n"
      "node01 slots=4   # the big one\n"
      "  node02\tslots=2 max_slots=8\n"
      "node03\n"
      "user@10.0.0.4 slots=1\n",
      "/etc/kiln/lab.hostfile", &notes);
  EXPECT_EQ(shape(c), "node01:4 node02:2 node03:1 user@10.0.0.4:1");
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_EQ(c.launcher, Launcher::kMpirun);
  EXPECT_EQ(c.name, "lab");
  EXPECT_EQ(c.source, "/etc/kiln/lab.hostfile");
  EXPECT_EQ(notes,
            Lines({"/etc/kiln/lab.hostfile:4: max_slots is ignored (kiln starts exactly slots ranks on each host)",
                   "/etc/kiln/lab.hostfile:5: no slots= for node03, using 1"}));
}

TEST(Hostfile, EveryProblemWithItsLineAndColumn) {
  EXPECT_EQ(problems("node01 slots=4\n"
                     "node02 slots=0\n"
                     "node03 slots=four\n"
                     "node04 gpus=2\n"
                     "node01 slots=2\n"
                     "bad,host slots=1\n"
                     "node05 slots 4\n"),
            Lines({"hosts:2:8: slots must be a whole number >= 1, got '0'",
                   "hosts:3:8: slots must be a whole number >= 1, got 'four'",
                   "hosts:4:8: unknown field 'gpus=2' (expected slots=N or max_slots=N)",
                   "hosts:5:1: host 'node01' is listed twice (first on line 1); give it once with all its slots",
                   "hosts:6:1: 'bad,host' is not a host name (letters, digits, '.', '-', '_', or user@host)",
                   "hosts:7:8: unknown field 'slots' (expected slots=N or max_slots=N)",
                   "hosts:7:14: unknown field '4' (expected slots=N or max_slots=N)"}));
}

TEST(Hostfile, EmptyAndMissingFiles) {
  EXPECT_EQ(problems("# nothing\n\n"), Lines({"hosts: no hosts listed"}));
  EXPECT_THROW(load_hostfile("/nonexistent/hosts"), specs::SpecError);
  try {
    load_hostfile("/nonexistent/hosts");
  } catch (const specs::SpecError& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid spec /nonexistent/hosts: 1 problem\n/nonexistent/hosts: hostfile not found");
  }
}

TEST(HostFilters, NoFilterKeepsEverything) {
  const ClusterConfig c = parse_hostfile(kFourHosts, "hosts");
  EXPECT_EQ(shape(filter_hosts(c, "", "")), "a:4 b:4 c:2 d:1");
}

TEST(HostFilters, IncludeHostsKeepsTheFilesOrder) {
  const ClusterConfig c = parse_hostfile(kFourHosts, "hosts");
  EXPECT_EQ(shape(filter_hosts(c, "c@a", "")), "a:4 c:2");
  EXPECT_EQ(shape(filter_hosts(c, "c,a", "")), "a:4 c:2");
  EXPECT_EQ(shape(filter_hosts(c, "d", "")), "d:1");
}

TEST(HostFilters, IncludeSlotsSelectsGpuIds) {
  const ClusterConfig c = parse_hostfile(kFourHosts, "hosts");
  EXPECT_EQ(shape(filter_hosts(c, "a:0,2@b", "")), "a:2[0,2] b:4");
  EXPECT_EQ(shape(filter_hosts(c, "a:3,1,b:0", "")), "a:2[1,3] b:1[0]");
  EXPECT_EQ(shape(filter_hosts(c, "a:1@a:2", "")), "a:2[1,2]");
}

TEST(HostFilters, ExcludeHostsOrSlots) {
  const ClusterConfig c = parse_hostfile(kFourHosts, "hosts");
  EXPECT_EQ(shape(filter_hosts(c, "", "b@d")), "a:4 c:2");
  EXPECT_EQ(shape(filter_hosts(c, "", "a:0,1,c:0")), "a:2[2,3] b:4 c:1[1] d:1");
  EXPECT_EQ(shape(filter_hosts(c, "", "c:0,1")), "a:4 b:4 d:1");  // a host without slots left goes
}

TEST(HostFilters, SlotsOfAHostWithAGpuListAreItsGpuIds) {
  ClusterConfig c = parse_hostfile("a slots=2\n", "hosts");
  c.nodes[0].gpus = {4, 6};
  EXPECT_EQ(shape(filter_hosts(c, "a:6", "")), "a:1[6]");
  EXPECT_EQ(filter_error(c, "a:0", ""), "--include 'a:0': host 'a' has no slot 0 (its slots: 4,6)");
}

TEST(HostFilters, Errors) {
  const ClusterConfig c = parse_hostfile(kFourHosts, "hosts");
  EXPECT_EQ(filter_error(c, "a", "b"), "give --include or --exclude, not both (--include 'a', --exclude 'b')");
  EXPECT_EQ(filter_error(c, "a@e", ""), "--include 'a@e': unknown host 'e' (the hosts are a, b, c and d)");
  EXPECT_EQ(filter_error(c, "", "a:4"), "--exclude 'a:4': host 'a' has no slot 4 (its slots: 0,1,2,3)");
  EXPECT_EQ(filter_error(c, "a,,b", ""), "--include 'a,,b': an empty host name (hosts are separated by '@' or ',')");
  EXPECT_EQ(filter_error(c, "a:x", ""), "--include 'a:x': 'a:x': expected host:slot[,slot...] with slot numbers");
  EXPECT_EQ(filter_error(c, "", "a@b@c@d"), "--exclude 'a@b@c@d': no host is left (the hosts are a, b, c and d)");
  EXPECT_EQ(filter_error(c, "a b", ""),
            "--include 'a b': 'a b' is not a host name (letters, digits, '.', '-', '_', or user@host)");
}

}  // namespace
}  // namespace kiln::cluster
