// The cluster YAML: typed values from the sample, every validation problem with its exact file:line:column,
// overrides, placement, and the generated reference in docs/cluster.md.
#include "kiln/cluster/cluster_config.h"

#include <gtest/gtest.h>

#include "support/generated_docs.h"

namespace kiln::cluster {
namespace {

using Lines = std::vector<std::string>;

const std::string kSample = std::string(KILN_SOURCE_DIR) + "/specs/samples/cluster_two_nodes.yaml";

Lines problems(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  Lines lines;
  try {
    load_cluster_config_text(yaml, "c.yaml", overrides);
    ADD_FAILURE() << "expected a SpecError for:\n" << yaml;
  } catch (const specs::SpecError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    for (const auto& issue : e.issues()) lines.push_back(issue.str());
  }
  return lines;
}

TEST(ClusterConfig, SampleLoadsWithEveryKey) {
  const ClusterConfig c = load_cluster_config(kSample);
  EXPECT_EQ(c.name, "lab-a100");
  EXPECT_EQ(c.source, kSample);
  EXPECT_EQ(c.launcher, Launcher::kMpirun);
  ASSERT_EQ(c.nodes.size(), 2u);
  EXPECT_EQ(c.nodes[0].host, "node01");
  EXPECT_EQ(c.nodes[1].slots, 4);
  EXPECT_EQ(c.nodes[1].gpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(c.world_size(), 8);
  EXPECT_EQ(c.network.interface, "ib0");
  EXPECT_EQ(c.network.master_addr, "");
  EXPECT_EQ(c.network.master_port, 0);
  EXPECT_EQ(c.env, (std::map<std::string, std::string>{{"NCCL_DEBUG", "WARN"}}));
  EXPECT_TRUE(c.mpirun_args.empty());
  EXPECT_EQ(c.slurm.partition, "gpu");
  EXPECT_EQ(c.slurm.time, "04:00:00");
  EXPECT_EQ(c.slurm.account, "proj");
  EXPECT_EQ(c.slurm.nodes, 0);
}

TEST(ClusterConfig, DefaultsAndSlotsFromGpus) {
  const ClusterConfig c =
      load_cluster_config_text("nodes:\n  - {host: a, gpus: [2, 3]}\n  - {host: b, slots: 1}\n", "/x/lab.yaml");
  EXPECT_EQ(c.name, "lab");  // the file's stem
  EXPECT_EQ(c.launcher, Launcher::kMpirun);
  EXPECT_EQ(c.nodes[0].slots, 2);
  EXPECT_EQ(c.world_size(), 3);
  EXPECT_TRUE(c.env.empty());
  EXPECT_EQ(c.slurm.time, "");
}

TEST(ClusterConfig, OverridesSetEnvAndLauncher) {
  const ClusterConfig c =
      load_cluster_config(kSample, {"launcher=slurm", "env.NCCL_DEBUG=INFO", "env.OMP_NUM_THREADS=4"});
  EXPECT_EQ(c.launcher, Launcher::kSlurm);
  EXPECT_EQ(c.env, (std::map<std::string, std::string>{{"NCCL_DEBUG", "INFO"}, {"OMP_NUM_THREADS", "4"}}));
}

TEST(ClusterConfigErrors, UnknownKeysTypesAndRanges) {
  EXPECT_EQ(problems("nme: lab\n"
                     "launcher: mpirum\n"
                     "nodes:\n"
                     "  - host: node01\n"
                     "    slot: 4\n"
                     "  - host: node02\n"
                     "    slots: 0\n"
                     "    gpus: [0, x]\n"
                     "network: {interface: ib0, master_port: 70000}\n"
                     "env: [NCCL_DEBUG]\n"
                     "mpirun_args: --bind-to\n"),
            Lines({"c.yaml:1:1: nme: unknown key 'nme' (did you mean 'name'?)",
                   "c.yaml:2:11: launcher: 'mpirum' is not one of: local, mpirun, slurm (did you mean 'mpirun'?)",
                   "c.yaml:4:5: nodes[0].slots: missing required key (or list the host's gpus)",
                   "c.yaml:5:5: nodes[0].slot: unknown key 'slot' (did you mean 'slots'?)",
                   "c.yaml:7:12: nodes[1].slots: 0 is out of range (must be in [1, 4096])",
                   "c.yaml:8:15: nodes[1].gpus[1]: expected an integer, got 'x'",
                   "c.yaml:9:40: network.master_port: 70000 is out of range (must be in [0, 65535])",
                   "c.yaml:10:6: env: expected a map of names to values, got a list",
                   "c.yaml:11:14: mpirun_args: expected a list of strings, got '--bind-to'"}));
}

TEST(ClusterConfigErrors, NodesRules) {
  EXPECT_EQ(
      problems("nodes:\n"
               "  - host: node01\n"
               "    slots: 2\n"
               "    gpus: [0, 1, 2]\n"
               "  - host: node01\n"
               "    slots: 1\n"
               "  - {host: 'bad host', gpus: [1, 1]}\n"
               "  - slots: 2\n"),
      Lines({"c.yaml:3:12: nodes[0].slots: slots is 2 but gpus lists 3 (each rank gets its own GPU: give one "
             "per slot)",
             "c.yaml:5:11: nodes[1].host: host 'node01' is listed twice (also nodes[0]); give it once with all "
             "its slots",
             "c.yaml:7:12: nodes[2].host: 'bad host' is not a host name (letters, digits, '.', '-', '_', or "
             "user@host)",
             "c.yaml:7:30: nodes[2].gpus: GPU 1 is listed twice", "c.yaml:8:5: nodes[3].host: missing required key"}));
}

TEST(ClusterConfigErrors, LauncherNeedsItsNodes) {
  EXPECT_EQ(problems("name: x\n"),
            Lines({"c.yaml:1:1: nodes: launcher mpirun needs the hosts: list at least one node"}));
  EXPECT_EQ(problems("launcher: local\nnodes: [{host: a, slots: 1}, {host: b, slots: 1}]\n"),
            Lines({"c.yaml:2:8: nodes: launcher local runs on this host only, but 2 nodes are listed (use launcher "
                   "mpirun or slurm)"}));
  EXPECT_EQ(problems("launcher: slurm\nnodes:\n  - {host: a, slots: 4}\n  - {host: b, slots: 2}\nslurm: {nodes: 3}\n"),
            Lines({"c.yaml:4:22: nodes[1].slots: slurm starts the same number of ranks on every node: nodes[0] has "
                   "4, this one 2",
                   "c.yaml:5:16: slurm.nodes: 3 contradicts the 2 hosts that nodes lists (leave it 0)"}));
  EXPECT_EQ(load_cluster_config_text("launcher: slurm\nslurm: {gpus_per_node: 4, nodes: 2}\n", "s.yaml").world_size(),
            8);
  EXPECT_EQ(load_cluster_config_text("launcher: local\n", "l.yaml").world_size(), 0);
}

TEST(ClusterConfigErrors, EnvSlurmNetworkAndMpirunArgs) {
  EXPECT_EQ(problems("nodes: [{host: a, slots: 1}]\n"
                     "env:\n"
                     "  NCCL_DEBUG: WARN\n"
                     "  1BAD: x\n"
                     "  KILN_RANK: 3\n"
                     "  MASTER_PORT: 1234\n"
                     "  LIST: [1]\n"
                     "network: {interface: 10.0.0.0/24}\n"
                     "mpirun_args: [-x, FOO, -np, 4]\n"
                     "slurm:\n"
                     "  time: 4h\n"
                     "  sbatch: [qos=high]\n"),
            Lines({"c.yaml:4:3: env.1BAD: '1BAD' is not an environment variable name (letters, digits and '_', not "
                   "starting with a digit)",
                   "c.yaml:5:3: env.KILN_RANK: KILN_RANK is set by kiln for each job and rank",
                   "c.yaml:6:3: env.MASTER_PORT: set network.master_port instead of MASTER_PORT",
                   "c.yaml:7:9: env.LIST: expected a string, got a list",
                   "c.yaml:8:22: network.interface: '10.0.0.0/24' is not a list of interface names (e.g. ib0 or "
                   "eth0,eth1): it is given to Open MPI (btl_tcp_if_include), NCCL (NCCL_SOCKET_IFNAME) and Gloo "
                   "(GLOO_SOCKET_IFNAME)",
                   "c.yaml:9:14: mpirun_args: '-np' is set by kiln: the number of ranks is the sum of the nodes' slots",
                   "c.yaml:11:9: slurm.time: '4h' is not a time limit (write HH:MM:SS or D-HH:MM:SS, e.g. 04:00:00 or "
                   "2-00:00:00)",
                   "c.yaml:12:11: slurm.sbatch: 'qos=high' is not an sbatch option (write it as on sbatch's command "
                   "line, e.g. --qos=high)"}));
}

TEST(ClusterConfigErrors, SlurmTimeForms) {
  for (const char* ok : {"04:00:00", "100:30:00", "2-00:00:00", "0-23:59:59"}) {
    EXPECT_NO_THROW(load_cluster_config_text(std::string("launcher: slurm\nslurm: {time: \"") + ok + "\"}\n", "t.yaml"))
        << ok;
  }
  for (const char* bad : {"4:00", "04:60:00", "1-24:00:00", "x-01:00:00", "01:00:00:00", "-01:00:00"}) {
    EXPECT_EQ(problems(std::string("launcher: slurm\nslurm: {time: \"") + bad + "\"}\n").size(), 1u) << bad;
  }
}

TEST(ClusterConfigErrors, MissingFileAndOverrideProblems) {
  EXPECT_EQ(problems("nodes: [{host: a, slots: 1}]\n", {"nodes[0].slots=2", "network.ifname=eth0"}),
            Lines({"<command line>: nodes[0].slots: 'nodes' is a list; set it as a whole (nodes=[{...}, {...}])",
                   "<command line>: network.ifname: unknown key 'ifname'"}));
  try {
    load_cluster_config("/nonexistent/c.yaml");
    FAIL();
  } catch (const specs::SpecError& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid spec /nonexistent/c.yaml: 1 problem\n/nonexistent/c.yaml: spec file not found");
  }
}

TEST(ClusterPlacement, RanksFillNodesInOrderWithTheirGpus) {
  ClusterConfig c =
      load_cluster_config_text("nodes:\n  - {host: a, gpus: [4, 5]}\n  - {host: b, slots: 3}\n", "p.yaml");
  const std::vector<RankPlace> places = place_ranks(c);
  ASSERT_EQ(places.size(), 5u);
  EXPECT_EQ(places[1].host, "a");
  EXPECT_EQ(places[1].local_rank, 1);
  EXPECT_EQ(places[1].gpu, 5);
  EXPECT_EQ(places[4].rank, 4);
  EXPECT_EQ(places[4].node, 1);
  EXPECT_EQ(places[4].local_rank, 2);
  EXPECT_EQ(places[4].local_size, 3);
  EXPECT_EQ(places[4].gpu, -1);
  EXPECT_EQ(placement_table(c),
            "rank  host  local_rank  gpu\n"
            "0     a     0/2         4\n"
            "1     a     1/2         5\n"
            "2     b     0/3         -\n"
            "3     b     1/3         -\n"
            "4     b     2/3         -\n"
            "5 ranks on 2 hosts (launcher mpirun)\n");
}

TEST(ClusterPlacement, SlurmWithoutHostsNamesTheAllocationsNodes) {
  ClusterConfig c = load_cluster_config_text("launcher: slurm\nslurm: {nodes: 2, ntasks_per_node: 1}\n", "s.yaml");
  EXPECT_EQ(placement_table(c),
            "rank  host            local_rank  gpu\n"
            "0     <slurm node 0>  0/1         -\n"
            "1     <slurm node 1>  0/1         -\n"
            "2 ranks on 2 hosts (launcher slurm)\n");
}

TEST(ClusterConfig, LoadClusterPicksTheFormatByExtension) {
  EXPECT_EQ(load_cluster(kSample).name, "lab-a100");
  const std::string hostfile = std::string(KILN_SOURCE_DIR) + "/specs/samples/cluster_two_nodes.hostfile";
  EXPECT_EQ(load_cluster(hostfile).world_size(), 8);
  // A hostfile takes --launcher (mpirun users pass one with `mpirun --hostfile`), nothing else of the YAML's keys.
  EXPECT_EQ(load_cluster(hostfile, {"launcher=slurm"}).launcher, Launcher::kSlurm);
  EXPECT_EQ(load_cluster(hostfile, {"launcher=mpirun"}).launcher, Launcher::kMpirun);
  EXPECT_THROW(load_cluster(hostfile, {"launcher=local"}), UsageError) << "local is this host only; it lists two";
  EXPECT_THROW(load_cluster(hostfile, {"launcher=ssh"}), UsageError);
  EXPECT_THROW(load_cluster(hostfile, {"env.NCCL_DEBUG=INFO"}), UsageError);
  EXPECT_EQ(launcher_from_name("slurm"), Launcher::kSlurm);
  EXPECT_EQ(launcher_from_name("ssh"), std::nullopt);
}

// docs/cluster.md carries the generated key reference; KILN_UPDATE_DOCS=1 rewrites it.
TEST(ClusterDocs, ReferenceIsCurrent) {
  test_support::check_generated_region("docs/cluster.md", "cluster", specs::describe_schema(cluster_schema()));
}

}  // namespace
}  // namespace kiln::cluster
