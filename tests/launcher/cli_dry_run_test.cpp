// run_cli() against the recording Runtime: --dry-run checks and shows and never runs, a GPU job is previewed or
// scripted without probing this host, and one `Execution status` line reports a job.
#include "launcher/cli_harness.h"

using namespace kiln_cli_test;

// ---- --dry-run: checks and shows, never runs ----

TEST(Cli, DryRunWithoutALaunchOptionChecksAndRunsNothing) {
  const std::vector<std::tuple<Args, std::string, std::string>> cases = {
      {{"classification", "train", "-e", "s.yaml", "-r", "out"}, "check_experiment_spec", "classification"},
      {{"classification", "evaluate", "-e", "s.yaml", "-m", "m.kiln"}, "check_evaluation_spec", "classification"},
      {{"classification", "inference", "-m", "m.kiln", "-i", "imgs", "-o", "out"}, "check_inference",
       "classification"},
      {{"detectnet_v2", "train", "-e", "d.yaml", "-r", "out"}, "check_detectnet_spec", "detectnet_v2"},
      {{"detectnet_v2", "evaluate", "-e", "d.yaml", "-m", "m.kiln"}, "check_detectnet_evaluation_spec",
       "detectnet_v2"},
      {{"detectnet_v2", "inference", "-e", "d.yaml", "-m", "m.kiln", "-i", "imgs", "-o", "out"},
       "check_detectnet_inference", "detectnet_v2"},
  };
  for (auto [args, check, network] : cases) {
    args.push_back("--dry-run");
    args.push_back("a.b=1");
    FakeRuntime rt;
    const Outcome o = cli(rt, args);
    EXPECT_EQ(o.code, 0) << testing::PrintToString(args) << "\n" << o.err;
    EXPECT_EQ(rt.actions(), Args{check}) << "a dry run checks and never runs: " << testing::PrintToString(args);
    EXPECT_EQ(rt.resolved_network, network);
    EXPECT_EQ(rt.run.overrides, Args{"a.b=1"}) << "the resolved spec has the overrides";
    EXPECT_TRUE(contains(o.out, "---\nresolved: " + network + "\n---\n")) << o.out;
    EXPECT_TRUE(contains(o.out, "Launch plan: no launcher; this process runs the subtask itself")) << o.out;
    EXPECT_TRUE(contains(o.out, "  threads:  ")) << o.out;
    EXPECT_TRUE(contains(o.out, "Dry run: nothing was started and nothing was written.\n" + kPass)) << o.out;
  }
}

TEST(Cli, DryRunTellsWhereResultsWouldGo) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "--dry-run", "--num_threads",
                             "3", "--device", "cpu"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_TRUE(contains(o.out, "  results:  out/ (model.kiln, checkpoints/")) << o.out;
  EXPECT_TRUE(contains(o.out, "  threads:  3 intra-op threads (--num_threads)")) << o.out;
  EXPECT_TRUE(contains(o.out, "  device:   cpu (--device)")) << o.out;
  EXPECT_TRUE(contains(o.out, "Resolved spec (s.yaml):")) << o.out;
}

TEST(Cli, AFailedCheckFailsTheDryRun) {
  FakeRuntime rt;
  rt.fail_in = "check_experiment_spec";
  rt.failure = [] { throw kiln::UsageError("s.yaml:3:5: train_config.n_epoch: unknown key"); };
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "--dry-run"});
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(rt.actions(), Args{"check_experiment_spec"});
  EXPECT_TRUE(contains(o.err, "unknown key")) << o.err;
  EXPECT_TRUE(ends_with(o.out, kFail)) << o.out;
}

TEST(Cli, ARankOfSomeoneElsesMpirunOnlyPreviewsWithDryRun) {
  FakeRuntime rt;
  rt.rank = rank_of(1, 4);
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "--dry-run"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(rt.actions(), Args{"check_experiment_spec"});
  EXPECT_TRUE(contains(o.out, "  rank:     rank 1/4")) << o.out;
}

TEST(Cli, DryRunWithALaunchOptionShowsTheSpecThenTheLaunch) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "--num_processes", "2",
                             "--dry-run"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(rt.actions(), (Args{"check_experiment_spec", "launch"}));
  EXPECT_TRUE(rt.job.dry_run) << "launch() prints the command and starts nothing";
  EXPECT_TRUE(contains(o.out, "resolved: classification")) << o.out;
}

TEST(Cli, ClusterCheckDryRunWithoutALaunchOptionChecksNothing) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"cluster", "check", "--dry-run"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(rt.actions(), Args{});
  EXPECT_TRUE(contains(o.out, "Dry run: nothing was started.")) << o.out;
}

// ---- A GPU job is previewed or scripted from a host without GPUs ----

TEST(Cli, GpuDryRunDoesNotProbeTheDevices) {
  FakeRuntime rt;  // no CUDA device: a login node
  const Outcome o = cli(rt, {"classification", "train", "-e", "s", "-r", "o", "--gpus", "2", "--gpu_index", "2", "3",
                             "--dry-run"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(std::count(rt.calls.begin(), rt.calls.end(), "cuda_devices"), 0);
  EXPECT_EQ(rt.actions(), (Args{"check_experiment_spec", "launch"}));
  EXPECT_EQ(rt.job.num_processes, 2);
  EXPECT_EQ(rt.job.env, (std::map<std::string, std::string>{{"KILN_DEVICE", "cuda"}, {"KILN_GPU_INDEX", "2,3"}}));

  FakeRuntime one;
  const Outcome single = cli(one, {"classification", "evaluate", "-e", "s", "-m", "m", "--gpu_index", "3",
                                   "--dry-run"});
  ASSERT_EQ(single.code, 0) << single.err;
  EXPECT_EQ(one.actions(), Args{"check_evaluation_spec"});
  EXPECT_TRUE(contains(single.out, "  device:   cuda, device 3")) << single.out;
  EXPECT_TRUE(one.rank_env.empty()) << "a dry run sets no rank environment";
}

TEST(Cli, EmitSbatchForGpusNeedsNoGpuHere) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"detectnet_v2", "train", "-e", "s", "-r", "o", "--gpus", "4", "--emit-sbatch", "t.sh",
                             "--num_threads", "8"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(std::count(rt.calls.begin(), rt.calls.end(), "cuda_devices"), 0);
  EXPECT_EQ(rt.job.gpus, 4);
  EXPECT_EQ(rt.job.num_processes, 4);
  EXPECT_EQ(rt.job.threads, 8) << "the batch script asks Slurm for --num_threads CPUs per task";
  EXPECT_EQ(rt.job.emit_sbatch, "t.sh");
}


// ---- One `Execution status` line per job ----

TEST(Cli, OnlyTheLauncherOrRankZeroReportsTheStatus) {
  FakeRuntime supervised;
  supervised.rank = rank_of(0, 2);
  supervised.supervised = true;
  EXPECT_EQ(cli(supervised, {"classification", "train", "-e", "s", "-r", "o"}).out, "")
      << "kiln's launcher reports the job";
  FakeRuntime other;
  other.rank = rank_of(1, 2);
  EXPECT_EQ(cli(other, {"classification", "train", "-e", "s", "-r", "o"}).out, "") << "rank 0 reports the job";
  FakeRuntime first;
  first.rank = rank_of(0, 2);
  EXPECT_EQ(cli(first, {"classification", "train", "-e", "s", "-r", "o"}).out, kPass);
}
