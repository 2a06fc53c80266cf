// The mpirun/srun commands and the sbatch script: golden text for the sample cluster YAML and hostfile, shell
// quoting checked by a real shell, the option rules, and an mpirun command that really runs two ranks.
#include "kiln/cluster/commands.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>

namespace kiln::cluster {
namespace {

const std::string kSamples = std::string(KILN_SOURCE_DIR) + "/specs/samples/";

ClusterConfig sample_yaml() {
  ClusterConfig c = load_cluster_config(kSamples + "cluster_two_nodes.yaml");
  c.source = "cluster_two_nodes.yaml";
  return c;
}

ClusterConfig sample_hostfile() {
  ClusterConfig c = load_hostfile(kSamples + "cluster_two_nodes.hostfile");
  c.source = "cluster_two_nodes.hostfile";
  return c;
}

// What the kiln launcher passes: paths with a space and a quote, kiln's variables, a secret forwarded by name.
LaunchOptions options() {
  LaunchOptions o;
  o.program = {"/opt/kiln/bin/kiln", "classification", "train", "-e", "/data/my specs/train.yaml", "-r",
               "/data/it's results"};
  o.env = {{"KILN_MASTER_ADDR", "node01"}, {"KILN_MASTER_PORT", "29500"}};
  o.forward_env = {"KILN_JOB_TOKEN"};
  o.as_root = false;
  o.log_dir = "/data/it's results/logs";
  return o;
}

const std::string kProgram =
    "/opt/kiln/bin/kiln classification train -e '/data/my specs/train.yaml' "
    "-r '/data/it'\\''s results'";

// The batch script's lines around its srun line: USR1 and TERM go on to the ranks, a warned job that stopped with a
// checkpoint is requeued, and the script exits with srun's status.
const std::string kSignalHeader =
    "#SBATCH --open-mode=append\n"
    "#SBATCH --signal=B:USR1@120\n"
    "#SBATCH --requeue\n";
const std::string kTrap =
    "kiln_warned=0\n"
    "trap 'kiln_caught=1; kiln_warned=1; kill -USR1 \"$kiln_srun\" 2>/dev/null' USR1\n"
    "trap 'kiln_caught=1; kill -TERM \"$kiln_srun\" 2>/dev/null' TERM\n";
const std::string kWaitAndRequeue =
    " &\n"
    "kiln_srun=$! kiln_status=-1\n"
    "while :; do\n"
    "  kiln_caught=0\n"
    "  wait \"$kiln_srun\"; kiln_wait=$?\n"
    "  [ \"$kiln_wait\" = 127 ] && [ \"$kiln_status\" != -1 ] && break  # srun's status was already in hand\n"
    "  kiln_status=$kiln_wait\n"
    "  [ \"$kiln_caught\" = 0 ] && break\n"
    "done\n"
    "if [ \"$kiln_warned\" = 1 ] && [ \"$kiln_status\" = 138 ]; then\n"
    "  echo \"kiln: job $SLURM_JOB_ID stopped at a checkpoint before its time limit; requeueing it\"\n"
    "  scontrol requeue \"$SLURM_JOB_ID\"\n"
    "fi\n"
    "exit \"$kiln_status\"\n";

// Runs `command` through /bin/sh and returns its output (stdout and stderr).
std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return "popen failed";
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

TEST(ShellQuote, OnlyWhatNeedsIt) {
  EXPECT_EQ(shell_quote("node01:4,node02:4"), "node01:4,node02:4");
  EXPECT_EQ(shell_quote("--export=ALL,A=1"), "--export=ALL,A=1");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
  EXPECT_EQ(shell_join({"echo", "a b", "c"}), "echo 'a b' c");
}

TEST(ShellQuote, ARealShellGetsTheWordsBack) {
  const std::vector<std::string> words{"plain", "two words", "it's", "say \"hi\"", "$HOME `id` \\n",
                                       "",      "*",         "a\nb", "~",          "x;y|z&"};
  std::vector<std::string> argv{"printf", "[%s]\\n"};
  argv.insert(argv.end(), words.begin(), words.end());
  std::string expected;
  for (const auto& w : words) expected += "[" + w + "]\n";
  EXPECT_EQ(run(shell_join(argv)), expected);
}

TEST(MpirunCommand, GoldenForTheSampleYaml) {
  const Command c = mpirun_command(sample_yaml(), options());
  EXPECT_EQ(c.str(),
            "mpirun -np 8 --host node01:4,node02:4 --bind-to core --map-by slot --mca btl_tcp_if_include ib0 "
            "-x GLOO_SOCKET_IFNAME=ib0 -x KILN_MASTER_ADDR=node01 -x KILN_MASTER_PORT=29500 -x NCCL_DEBUG=WARN -x NCCL_SOCKET_IFNAME=ib0 "
            "-x KILN_JOB_TOKEN " +
                kProgram);
  ASSERT_GE(c.argv.size(), 2u);
  EXPECT_EQ(c.argv[c.argv.size() - 3], "/data/my specs/train.yaml");  // argv holds the words unquoted
  EXPECT_EQ(c.argv.back(), "/data/it's results");
}

TEST(MpirunCommand, GoldenForTheSampleHostfileWithAGeneratedHostfile) {
  LaunchOptions o = options();
  o.hostfile = "/data/it's results/hostfile";
  o.oversubscribe = true;
  o.as_root = true;
  EXPECT_EQ(mpirun_command(sample_hostfile(), o).str(),
            "mpirun -np 8 --hostfile '/data/it'\\''s results/hostfile' --bind-to none --map-by slot "
            "-x KILN_MASTER_ADDR=node01 -x KILN_MASTER_PORT=29500 -x KILN_JOB_TOKEN --allow-run-as-root "
            "--oversubscribe " +
                kProgram);
  EXPECT_EQ(hostfile_text(sample_hostfile()), "node01 slots=4\nnode02 slots=4\n");
}

TEST(MpirunCommand, MpirunArgsReplaceTheDefaultsAndComeLast) {
  ClusterConfig c = sample_yaml();
  c.network.interface.clear();
  c.env.clear();
  c.mpirun_args = {"--bind-to", "none", "--map-by", "node", "--mca", "pml", "ob1"};
  LaunchOptions o = options();
  o.env.clear();
  o.forward_env.clear();
  o.program = {"kiln"};
  EXPECT_EQ(mpirun_command(c, o).str(),
            "mpirun -np 8 --host node01:4,node02:4 --bind-to none --map-by node --mca pml ob1 kiln");
}

TEST(MpirunCommand, EnvRules) {
  ClusterConfig c = sample_yaml();
  c.env = {{"NCCL_SOCKET_IFNAME", "eth1"}, {"OMP_NUM_THREADS", "4"}, {"MSG", "a b'c"}};
  LaunchOptions o = options();
  o.env["OMP_NUM_THREADS"] = "1";                               // the cluster file wins
  o.forward_env = {"KILN_JOB_TOKEN", "MSG", "KILN_JOB_TOKEN"};  // given a value already, or twice: once
  o.program = {"kiln"};
  EXPECT_EQ(mpirun_command(c, o).str(),
            "mpirun -np 8 --host node01:4,node02:4 --bind-to core --map-by slot --mca btl_tcp_if_include ib0 "
            "-x GLOO_SOCKET_IFNAME=ib0 -x KILN_MASTER_ADDR=node01 -x KILN_MASTER_PORT=29500 -x 'MSG=a b'\\''c' "
            "-x NCCL_SOCKET_IFNAME=eth1 -x OMP_NUM_THREADS=4 -x KILN_JOB_TOKEN kiln");
  o.forward_env = {"NOT VALID"};
  EXPECT_THROW(mpirun_command(c, o), UsageError);
}

TEST(MpirunCommand, GpuIdsOtherThanLocalRanksAreHandedToRanks) {
  ClusterConfig c = filter_hosts(sample_hostfile(), "node01:1,3@node02", "");
  LaunchOptions o = options();
  o.env.clear();
  o.forward_env.clear();
  o.program = {"kiln"};
  EXPECT_EQ(mpirun_command(c, o).str(),
            "mpirun -np 6 --host node01:2,node02:4 --bind-to core --map-by slot -x KILN_RANK_GPUS=1,3,0,1,2,3 kiln");
  c.mpirun_args = {"--map-by", "node"};
  EXPECT_THROW(mpirun_command(c, o), UsageError);
  c.nodes.clear();
  EXPECT_THROW(mpirun_command(c, o), UsageError);
}

TEST(SrunCommand, GoldenForTheSampleYaml) {
  EXPECT_EQ(srun_command(sample_yaml(), options()).str(),
            "srun --job-name=lab-a100 --partition=gpu --time=04:00:00 --account=proj --nodes=2 --ntasks=8 "
            "--ntasks-per-node=4 --nodelist=node01,node02 --gpus-per-node=4 --mpi=pmix --kill-on-bad-exit=1 "
            "--export=ALL,GLOO_SOCKET_IFNAME=ib0,KILN_MASTER_ADDR=node01,KILN_MASTER_PORT=29500,NCCL_DEBUG=WARN,"
            "NCCL_SOCKET_IFNAME=ib0,"
            "OMPI_MCA_btl_tcp_if_include=ib0,KILN_JOB_TOKEN " +
                kProgram);
}

TEST(SrunCommand, GoldenForTheSampleHostfileInsideAnAllocation) {
  LaunchOptions o = options();
  o.in_allocation = true;
  EXPECT_EQ(srun_command(sample_hostfile(), o).str(),
            "srun --nodes=2 --ntasks=8 --ntasks-per-node=4 --nodelist=node01,node02 --mpi=pmix --kill-on-bad-exit=1 "
            "--export=ALL,KILN_MASTER_ADDR=node01,KILN_MASTER_PORT=29500,KILN_JOB_TOKEN " +
                kProgram);
}

TEST(SrunCommand, ValuesWithCommasGoThroughEnvAndTheAllocationMayChooseHosts) {
  ClusterConfig c = load_cluster_config_text(
      "name: big job\nlauncher: slurm\nenv: {CUDA_VISIBLE_DEVICES: '0,1', A: 'x y'}\n"
      "slurm: {nodes: 3, gpus_per_node: 2}\n",
      "s.yaml");
  LaunchOptions o;
  o.program = {"kiln"};
  EXPECT_EQ(srun_command(c, o).str(),
            "env CUDA_VISIBLE_DEVICES=0,1 srun '--job-name=big job' --nodes=3 --ntasks=6 --ntasks-per-node=2 "
            "--gpus-per-node=2 --mpi=pmix --kill-on-bad-exit=1 '--export=ALL,A=x y' kiln");
}

TEST(SrunCommand, UnequalSlotsCannotBeOneStep) {
  ClusterConfig c = parse_hostfile("a slots=4\nb slots=2\n", "hosts");
  try {
    srun_command(c, options());
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "hosts: slurm starts the same number of ranks on every node, but a has 4 slots "
              "and b has 2 (make them equal, or use launcher mpirun)");
  }
  c.nodes[1].slots = 4;
  c.slurm.nodes = 3;
  EXPECT_THROW(sbatch_script(c, options()), UsageError);
}

TEST(SbatchScript, GoldenForTheSampleYaml) {
  EXPECT_EQ(sbatch_script(sample_yaml(), options()),
            "#!/bin/bash\n"
            "#SBATCH --job-name=lab-a100\n"
            "#SBATCH --nodes=2\n"
            "#SBATCH --ntasks-per-node=4\n"
            "#SBATCH --nodelist=node01,node02\n"
            "#SBATCH --gpus-per-node=4\n"
            "#SBATCH --partition=gpu\n"
            "#SBATCH --time=04:00:00\n"
            "#SBATCH --account=proj\n"
            "#SBATCH \"--output=/data/it's results/logs/slurm-%j.out\"\n" +
            kSignalHeader +
            "# Written by kiln from cluster_two_nodes.yaml. Submit it with: sbatch <this file>\n"
            ": \"${KILN_JOB_TOKEN:?must be set where sbatch runs}\"\n"
            "export GLOO_SOCKET_IFNAME=ib0\n"
            "export KILN_MASTER_ADDR=node01\n"
            "export KILN_MASTER_PORT=29500\n"
            "export NCCL_DEBUG=WARN\n"
            "export NCCL_SOCKET_IFNAME=ib0\n"
            "export OMPI_MCA_btl_tcp_if_include=ib0\n"
            "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n"
            "export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS\n"
            "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi\n" +
            kTrap +
            "srun --nodes=2 --ntasks=8 --ntasks-per-node=4 --nodelist=node01,node02 --gpus-per-node=4 --mpi=pmix "
            "--kill-on-bad-exit=1 --export=ALL " +
            kProgram + kWaitAndRequeue);
}

TEST(SbatchScript, GoldenForTheSampleHostfile) {
  LaunchOptions o = options();
  o.log_dir.clear();
  o.forward_env.clear();
  EXPECT_EQ(sbatch_script(sample_hostfile(), o),
            "#!/bin/bash\n"
            "#SBATCH --job-name=cluster_two_nodes\n"
            "#SBATCH --nodes=2\n"
            "#SBATCH --ntasks-per-node=4\n"
            "#SBATCH --nodelist=node01,node02\n"
            "#SBATCH --output=slurm-%j.out\n" +
            kSignalHeader +
            "# Written by kiln from cluster_two_nodes.hostfile. Submit it with: sbatch <this file>\n"
            "export KILN_MASTER_ADDR=node01\n"
            "export KILN_MASTER_PORT=29500\n"
            "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n"
            "export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS\n"
            "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi\n" +
            kTrap +
            "srun --nodes=2 --ntasks=8 --ntasks-per-node=4 --nodelist=node01,node02 --mpi=pmix --kill-on-bad-exit=1 "
            "--export=ALL " +
            kProgram + kWaitAndRequeue);
}

// --emit-sbatch without a cluster file: one node of the allocation's choosing (no node list: Slurm would reject or
// misplace a login host's name), the CPUs per task from --num_threads, and each rank's threads read where it runs.
TEST(SbatchScript, WithoutListedNodesTheAllocationDecides) {
  ClusterConfig c;
  c.name = "kiln";
  c.launcher = Launcher::kSlurm;
  c.slurm.nodes = 1;
  c.slurm.ntasks_per_node = 2;
  c.slurm.gpus_per_node = 2;
  LaunchOptions o;
  o.program = {"kiln", "classification", "train"};
  o.env = {{"KILN_DEVICE", "cuda"}};
  o.cpus_per_task = 4;
  EXPECT_EQ(sbatch_script(c, o),
            "#!/bin/bash\n"
            "#SBATCH --job-name=kiln\n"
            "#SBATCH --nodes=1\n"
            "#SBATCH --ntasks-per-node=2\n"
            "#SBATCH --gpus-per-node=2\n"
            "#SBATCH --cpus-per-task=4\n"
            "#SBATCH --output=slurm-%j.out\n" +
            kSignalHeader +
            "# Written by kiln. Submit it with: sbatch <this file>\n"
            "export KILN_DEVICE=cuda\n"
            "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n"
            "export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS\n"
            "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi\n" +
            kTrap +
            "srun --nodes=1 --ntasks=2 --ntasks-per-node=2 --gpus-per-node=2 --mpi=pmix --kill-on-bad-exit=1 "
            "--export=ALL kiln classification train" +
            kWaitAndRequeue);
  // The thread lines give each rank the CPUs Slurm gave its task, 1 by default; a cluster's env keeps its own.
  std::string script = sbatch_script(c, o);
  script = script.substr(0, script.find("srun ")) +
           "echo $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS ${SRUN_CPUS_PER_TASK:-unset}\n";
  EXPECT_EQ(run("env -u SLURM_CPUS_PER_TASK bash -c " + shell_quote(script)), "1 1 unset\n");
  EXPECT_EQ(run("SLURM_CPUS_PER_TASK=6 bash -c " + shell_quote(script)), "6 6 6\n");
  c.env = {{"OMP_NUM_THREADS", "3"}};
  const std::string own = sbatch_script(c, o);
  EXPECT_NE(own.find("export OMP_NUM_THREADS=3\n"), std::string::npos) << own;
  EXPECT_EQ(own.find("OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK"), std::string::npos) << own;
}

TEST(SbatchScript, QuotesWhatSbatchAndTheShellWouldSplit) {
  ClusterConfig c = load_cluster_config_text(
      "name: 'my \"big\" job'\nlauncher: slurm\nenv: {MSG: \"it's $HOME\"}\n"
      "slurm: {sbatch: [--qos=high, '--comment=a # b']}\n",
      "q.yaml");
  LaunchOptions o;
  o.program = {"kiln"};
  o.log_dir = "/logs/100%";
  const std::string script = sbatch_script(c, o);
  EXPECT_NE(script.find("#SBATCH \"--job-name=my \\\"big\\\" job\"\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --output=/logs/100%%/slurm-%j.out\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --qos=high\n#SBATCH \"--comment=a # b\"\n"), std::string::npos) << script;
  EXPECT_NE(script.find("export MSG='it'\\''s $HOME'\n"), std::string::npos) << script;
  // The script is valid shell: run it with srun replaced by printenv.
  EXPECT_EQ(run("bash -c " + shell_quote("srun() { printenv MSG; }\n" + script)), "it's $HOME\n");
}

// The script run as sbatch would, with srun and scontrol replaced by shell functions: `signal` (if any) reaches the
// script once the ranks run; returns what was printed and the script's exit status.
std::string run_batch_script(const ClusterConfig& c, const std::string& signal, const std::string& ranks_exit) {
  LaunchOptions o;
  o.program = {"kiln"};
  const std::string started = "/tmp/kiln_sbatch_started_" + std::to_string(::getpid());
  ::unlink(started.c_str());
  const std::string stubs =
      "srun() { trap 'echo ranks got USR1; exit 138' USR1; trap 'echo ranks got TERM; exit 143' TERM; touch " +
      started + "; for _ in $(seq 100); do sleep 0.05; done; exit " + ranks_exit + "; }\n" +
      "scontrol() { echo scontrol \"$@\"; }\nSLURM_JOB_ID=42\n";
  std::string outer = "bash -c " + shell_quote(stubs + sbatch_script(c, o)) + " & p=$!\n" +
                      "while [ ! -e " + started + " ]; do sleep 0.02; done\n";
  if (!signal.empty()) outer += "kill -" + signal + " $p\n";
  outer += "wait $p; echo exit=$?; rm -f " + started + "\n";
  return run("bash -c " + shell_quote(outer));
}

TEST(SbatchScript, SlurmsWarningStopsTheRanksAndRequeuesTheJob) {
  ClusterConfig c;
  c.launcher = Launcher::kSlurm;
  EXPECT_EQ(run_batch_script(c, "USR1", "0"),
            "ranks got USR1\nkiln: job 42 stopped at a checkpoint before its time limit; requeueing it\n"
            "scontrol requeue 42\nexit=138\n");
  // scancel or preemption: the ranks stop with a checkpoint, and the script waits for them; no requeue of its own.
  EXPECT_EQ(run_batch_script(c, "TERM", "0"), "ranks got TERM\nexit=143\n");
  // Without a signal, srun's status is the job's.
  EXPECT_EQ(run_batch_script(c, "", "3"), "exit=3\n");
  c.slurm.requeue = false;
  EXPECT_EQ(run_batch_script(c, "USR1", "0"), "ranks got USR1\nexit=138\n");
}

TEST(SbatchScript, TheWarningIsOptional) {
  ClusterConfig c;
  c.launcher = Launcher::kSlurm;
  c.slurm.grace_seconds = 0;
  LaunchOptions o;
  o.program = {"kiln"};
  const std::string script = sbatch_script(c, o);
  EXPECT_EQ(script.find("--signal"), std::string::npos) << script;
  EXPECT_EQ(script.find("scontrol requeue"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --requeue\n"), std::string::npos) << script;  // preemption may still requeue it
}

TEST(ClusterConfig, TheWarningMustComeBeforeTheTimeLimit) {
  EXPECT_EQ(load_cluster_config_text("launcher: slurm\nslurm: {time: '00:10:00', grace_seconds: 90}\n", "a.yaml")
                .slurm.grace_seconds,
            90);
  try {
    load_cluster_config_text("launcher: slurm\nslurm: {time: '00:02:00', grace_seconds: 120}\n", "b.yaml");
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("slurm.grace_seconds: 120 s is not before the time limit slurm.time=00:02:00 "
                                         "(120 s)"),
              std::string::npos)
        << e.what();
  }
}

// The command really runs: two ranks on this host, an -x variable with a space and a quote, a forwarded one.
TEST(MpirunCommand, RunsTwoLocalRanks) {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  ::setenv("MPIRUN_TEST_FORWARDED", "from the launcher", 1);
  ClusterConfig c = parse_hostfile("localhost slots=2\n", "local");
  c.env = {{"MPIRUN_TEST_VALUE", "a b'c"}};
  LaunchOptions o;
  o.program = {"/bin/sh", "-c",
               "echo \"rank=$OMPI_COMM_WORLD_RANK value=$MPIRUN_TEST_VALUE fwd=$MPIRUN_TEST_FORWARDED\""};
  o.forward_env = {"MPIRUN_TEST_FORWARDED"};
  o.oversubscribe = true;
  const std::string out = run("timeout 120 " + mpirun_command(c, o).str());
  EXPECT_NE(out.find("rank=0 value=a b'c fwd=from the launcher\n"), std::string::npos) << out;
  EXPECT_NE(out.find("rank=1 value=a b'c fwd=from the launcher\n"), std::string::npos) << out;
}

}  // namespace
TEST(SbatchScript, WorkdirBecomesChdirSoRelativePathsKeepTheirMeaning) {
  LaunchOptions o = options();
  o.workdir = "/home/me/exp 1";
  const std::string script = sbatch_script(sample_yaml(), o);
  EXPECT_NE(script.find("#SBATCH \"--chdir=/home/me/exp 1\"\n"), std::string::npos) << script;  // sbatch's quoting
  EXPECT_EQ(sbatch_script(sample_yaml(), options()).find("--chdir"), std::string::npos);
}

}  // namespace kiln::cluster
