#include "kiln/cluster/rank_env.h"

#include <gtest/gtest.h>

#include <map>

#include "kiln/common/error.h"

using kiln::cluster::discover_rank;
using kiln::cluster::gpu_for_rank;
using kiln::cluster::RankInfo;
using kiln::UsageError;

namespace {
kiln::cluster::EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
RankInfo from(const std::map<std::string, std::string>& vars) { return discover_rank(env(vars)); }
}  // namespace

TEST(RankEnv, NoVariablesMeansSingleProcess) {
  RankInfo r = from({});
  EXPECT_EQ(r.source, "single");
  EXPECT_EQ(r.world_size, 1);
  EXPECT_FALSE(r.distributed());
}

TEST(RankEnv, KilnContract) {
  RankInfo r = from({{"KILN_RANK", "3"}, {"KILN_WORLD_SIZE", "4"}, {"KILN_LOCAL_RANK", "1"},
                     {"KILN_LOCAL_WORLD_SIZE", "2"}, {"KILN_NODE_RANK", "1"}, {"KILN_MASTER_ADDR", "10.0.0.1"},
                     {"KILN_MASTER_PORT", "29500"}});
  EXPECT_EQ(r.source, "kiln");
  EXPECT_EQ(r.rank, 3);
  EXPECT_EQ(r.world_size, 4);
  EXPECT_EQ(r.local_rank, 1);
  EXPECT_EQ(r.local_world_size, 2);
  EXPECT_EQ(r.node_rank, 1);
  EXPECT_EQ(r.master_addr, "10.0.0.1");
  EXPECT_EQ(r.master_port, 29500);
}

TEST(RankEnv, OpenMpiContract) {
  RankInfo r = from({{"OMPI_COMM_WORLD_RANK", "2"}, {"OMPI_COMM_WORLD_SIZE", "3"},
                     {"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"}});
  EXPECT_EQ(r.source, "openmpi");
  EXPECT_EQ(r.rank, 2);
  EXPECT_EQ(r.world_size, 3);
  EXPECT_EQ(r.local_world_size, 3);
}

TEST(RankEnv, PmixAndPmiContracts) {
  EXPECT_EQ(from({{"PMIX_RANK", "1"}, {"PMIX_SIZE", "2"}}).source, "pmix");
  RankInfo r = from({{"PMI_RANK", "1"}, {"PMI_SIZE", "2"}});
  EXPECT_EQ(r.source, "pmi");
  EXPECT_EQ(r.rank, 1);
}

TEST(RankEnv, SlurmContractParsesTasksPerNodeCounts) {
  RankInfo r = from({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                     {"SLURM_NTASKS_PER_NODE", "4(x2)"}, {"SLURM_NODEID", "1"}});
  EXPECT_EQ(r.source, "slurm");
  EXPECT_EQ(r.rank, 5);
  EXPECT_EQ(r.local_world_size, 4);
  EXPECT_EQ(r.node_rank, 1);
}

TEST(RankEnv, PlainSrunTakesTheLocalSizeFromTheStepLayout) {
  // `srun -n 7` over 3 nodes without --ntasks-per-node: no SLURM_NTASKS_PER_NODE, the layout is per node id.
  RankInfo r = from({{"SLURM_PROCID", "6"}, {"SLURM_NTASKS", "7"}, {"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "2"},
                     {"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}, {"SLURM_TASKS_PER_NODE", "4,3"}});
  EXPECT_EQ(r.local_world_size, 1);
  r = from({{"SLURM_PROCID", "4"}, {"SLURM_NTASKS", "7"}, {"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "1"},
            {"SLURM_STEP_TASKS_PER_NODE", "3(x2),1"}});
  EXPECT_EQ(r.local_world_size, 3);
  // Only the allocation's layout: used when the step's is missing.
  r = from({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "1"}, {"SLURM_NODEID", "0"},
            {"SLURM_TASKS_PER_NODE", "2"}});
  EXPECT_EQ(r.local_world_size, 2);
  EXPECT_THROW(from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "two"}}), UsageError);
}

TEST(RankEnv, GpuOfARank) {
  RankInfo r = from({{"KILN_RANK", "3"}, {"KILN_WORLD_SIZE", "4"}, {"KILN_LOCAL_RANK", "1"},
                     {"KILN_LOCAL_WORLD_SIZE", "2"}});
  EXPECT_EQ(gpu_for_rank(r, env({})), 1);                                   // local rank
  EXPECT_EQ(gpu_for_rank(r, env({{"KILN_GPU_INDEX", "2,5"}})), 5);          // --gpu_index by local rank
  EXPECT_EQ(gpu_for_rank(r, env({{"KILN_RANK_GPUS", "0,1,6,7"}, {"KILN_GPU_INDEX", "2,5"}})), 7);  // by rank wins
  try {
    gpu_for_rank(r, env({{"KILN_GPU_INDEX", "2"}}));
    FAIL() << "a one-entry list cannot place local rank 1";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("KILN_GPU_INDEX=2 lists 1 GPU(s)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gpu_for_rank(r, env({{"KILN_GPU_INDEX", "0,x"}})), UsageError);
  EXPECT_THROW(gpu_for_rank(r, env({{"KILN_GPU_INDEX", "0,-1"}})), UsageError);
}

TEST(RankEnv, TorchrunContract) {
  RankInfo r = from({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                     {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "12345"}});
  EXPECT_EQ(r.source, "torchrun");
  EXPECT_EQ(r.master_port, 12345);
}

TEST(RankEnv, MpiWinsOverSlurmInsideAnAllocation) {
  // Inside sbatch, mpirun-started ranks all inherit SLURM_PROCID=0: the MPI variables must win.
  RankInfo r = from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"OMPI_COMM_WORLD_RANK", "1"},
                     {"OMPI_COMM_WORLD_SIZE", "2"}});
  EXPECT_EQ(r.source, "openmpi");
  EXPECT_EQ(r.rank, 1);
}

TEST(RankEnv, InconsistentContractsAreUsageErrors) {
  EXPECT_THROW(from({{"RANK", "1"}}), kiln::UsageError);
  EXPECT_THROW(from({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), kiln::UsageError);
  EXPECT_THROW(from({{"RANK", "x"}, {"WORLD_SIZE", "2"}}), kiln::UsageError);
  try {
    from({{"KILN_RANK", "0"}, {"KILN_WORLD_SIZE", "abc"}});
    FAIL();
  } catch (const kiln::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("KILN_WORLD_SIZE='abc'"), std::string::npos) << e.what();
  }
}

TEST(RankEnv, ThreadsShareTheHostsCores) {
  RankInfo r;
  r.local_world_size = 2;
  EXPECT_EQ(kiln::cluster::threads_per_rank(r, 16), 8);
  r.local_world_size = 4;
  EXPECT_EQ(kiln::cluster::threads_per_rank(r, 2), 1);
}

// Without --num_threads: OMP_NUM_THREADS (kiln's launcher, a batch script, torchrun), then the CPUs Slurm gave the
// task, then the host's cores shared among its local ranks.
TEST(RankEnv, DefaultThreadsFollowOmpThenSlurmThenTheCores) {
  RankInfo r;
  r.local_world_size = 2;
  std::string source;
  EXPECT_EQ(kiln::cluster::default_threads(r, 16, env({}), &source), 8);
  EXPECT_EQ(source, "this host's 16 cores / 2 local rank(s)");
  EXPECT_EQ(kiln::cluster::default_threads(r, 16, env({{"SLURM_CPUS_PER_TASK", "3"}}), &source), 3);
  EXPECT_EQ(source, "SLURM_CPUS_PER_TASK");
  EXPECT_EQ(kiln::cluster::default_threads(r, 16, env({{"OMP_NUM_THREADS", "2"}, {"SLURM_CPUS_PER_TASK", "3"}}),
                                           &source),
            2);
  EXPECT_EQ(source, "OMP_NUM_THREADS");
  for (const char* odd : {"0", "", "4,2", "abc", "99999999"})
    EXPECT_EQ(kiln::cluster::default_threads(r, 16, env({{"OMP_NUM_THREADS", odd}})), 8) << odd;
}

TEST(RankEnv, SrunWithPmixFallsBackToSlurmVariables) {
  // Slurm's PMIx plugin sets PMIX_RANK but no size variable: the Slurm contract must supply the world.
  RankInfo r = from({{"PMIX_RANK", "1"}, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}});
  EXPECT_EQ(r.source, "slurm");
  EXPECT_EQ(r.rank, 1);
  EXPECT_EQ(r.world_size, 2);
  EXPECT_THROW(from({{"PMIX_RANK", "1"}}), kiln::UsageError);
}
