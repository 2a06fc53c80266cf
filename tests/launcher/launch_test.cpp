#include "kiln/launcher/launch.h"

#include <gtest/gtest.h>

#include "kiln/common/error.h"
#include "kiln/launcher/supervisor.h"

using namespace kiln::launcher;

namespace {
JobLaunch local_job(int n) {
  JobLaunch job;
  job.num_processes = n;
  job.worker_args = {"classification", "train", "-e", "s.yaml", "-r", "out dir"};
  job.results_dir = "out dir";
  return job;
}
}  // namespace

TEST(Launch, LocalJobIsMpirunOnLocalhostWithThreadsPerRank) {
  const JobLaunch job = local_job(2);
  ASSERT_TRUE(wants_launch(job));
  auto config = job_cluster(job);
  EXPECT_EQ(config.world_size(), 2);
  auto options = job_options(job, config, "/opt/kiln/kiln", 2, true);
  options.as_root = false;
  EXPECT_EQ(kiln::cluster::mpirun_command(config, options).str(),
            "mpirun -np 2 --host localhost:2 --bind-to core --map-by slot -x KILN_MASTER_ADDR=127.0.0.1 "
            "-x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 -x KILN_JOB_TOKEN -x KILN_MASTER_PORT "
            "/opt/kiln/kiln classification train -e s.yaml -r 'out dir'");
}

TEST(Launch, MoreRanksThanCoresOversubscribe) {
  const JobLaunch job = local_job(3);
  auto config = job_cluster(job);
  const auto options = job_options(job, config, "kiln", 2, false);
  EXPECT_TRUE(options.forward_env.empty()) << "no launcher control plane: rank 0 hosts it";
  EXPECT_TRUE(options.oversubscribe);
  EXPECT_EQ(options.env.at("OMP_NUM_THREADS"), "1");
  EXPECT_EQ(job_options(local_job(2), job_cluster(local_job(2)), "kiln", 16, true).env.at("OMP_NUM_THREADS"), "8");
}

TEST(Launch, SingleProcessNeedsNoLauncherAndFiltersNeedAClusterFile) {
  EXPECT_FALSE(wants_launch(local_job(1)));
  JobLaunch job = local_job(2);
  job.include = "node1";
  EXPECT_THROW(job_cluster(job), kiln::UsageError);
}

// --emit-sbatch without -c: a batch script for one node of Slurm's choosing, not `localhost`, and no thread count
// taken from this (login) host.
TEST(Launch, BatchScriptWithoutAClusterFileNamesNoHost) {
  JobLaunch job = local_job(2);
  job.emit_sbatch = "train.sbatch";
  job.gpus = 2;
  job.threads = 4;
  const auto config = job_cluster(job);
  EXPECT_EQ(config.launcher, kiln::cluster::Launcher::kSlurm);
  EXPECT_TRUE(config.nodes.empty());
  EXPECT_EQ(config.world_size(), 2);
  const auto options = job_options(job, config, "/opt/kiln/kiln", 64, false);
  EXPECT_EQ(options.env.count("OMP_NUM_THREADS"), 0u) << "the login host's 64 cores say nothing about the node";
  EXPECT_EQ(options.cpus_per_task, 4);
  const std::string script = kiln::cluster::sbatch_script(config, options);
  EXPECT_EQ(script.find("nodelist"), std::string::npos) << script;
  EXPECT_EQ(script.find("localhost"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --gpus-per-node=2\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --cpus-per-task=4\n"), std::string::npos) << script;
  EXPECT_NE(script.find("export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n"), std::string::npos) << script;
}

// README: `-c hosts.txt --launcher mpirun --include node01,node02`: a hostfile takes --launcher.
TEST(Launch, AHostfileTakesTheLauncherAndFilters) {
  JobLaunch job = local_job(1);
  job.cluster_file = std::string(KILN_SOURCE_DIR) + "/specs/samples/cluster_two_nodes.hostfile";
  job.launcher = "mpirun";
  job.include = "node01";
  ASSERT_TRUE(wants_launch(job));
  auto config = job_cluster(job);
  EXPECT_EQ(config.launcher, kiln::cluster::Launcher::kMpirun);
  ASSERT_EQ(config.nodes.size(), 1u);
  EXPECT_EQ(config.nodes[0].host, "node01");
  job.launcher = "slurm";
  EXPECT_EQ(job_cluster(job).launcher, kiln::cluster::Launcher::kSlurm);
}

TEST(Launch, StripOptionRemovesBothSpellings) {
  const std::vector<std::string> argv{"train", "--num_processes", "2", "-e", "x", "--num_processes=4", "--dry-run"};
  EXPECT_EQ(strip_option(argv, "--num_processes", true), (std::vector<std::string>{"train", "-e", "x", "--dry-run"}));
  EXPECT_EQ(strip_option(argv, "--dry-run", false),
            (std::vector<std::string>{"train", "--num_processes", "2", "-e", "x", "--num_processes=4"}));
}

TEST(Supervisor, ParsesMpirunTags) {
  int rank = -1;
  std::string text;
  ASSERT_TRUE(parse_tagged_line("[1,3]<stdout>:Epoch 1/2 loss 0.5", rank, text));
  EXPECT_EQ(rank, 3);
  EXPECT_EQ(text, "Epoch 1/2 loss 0.5");
  ASSERT_TRUE(parse_tagged_line("[12,0]<stderr>:", rank, text));
  EXPECT_EQ(rank, 0);
  EXPECT_EQ(text, "");
  EXPECT_FALSE(parse_tagged_line("plain mpirun message", rank, text));
  EXPECT_FALSE(parse_tagged_line("[warn] something", rank, text));
}

TEST(Supervisor, ParsesSrunLabels) {
  int rank = -1;
  std::string text;
  ASSERT_TRUE(parse_srun_label("  1: Execution status: PASS", rank, text));
  EXPECT_EQ(rank, 1);
  EXPECT_EQ(text, "Execution status: PASS");
  ASSERT_TRUE(parse_srun_label("12: x: y", rank, text));
  EXPECT_EQ(rank, 12);
  EXPECT_EQ(text, "x: y");
  EXPECT_FALSE(parse_srun_label("srun: error: something", rank, text));
  EXPECT_FALSE(parse_srun_label("plain", rank, text));
}
