// run_cli() against a recording Runtime: which action an argument list chooses, the options it receives, and the
// exit code and messages of the command lines it refuses.
#include "launcher/cli_harness.h"

using namespace kiln_cli_test;

// ---- Every subcommand reaches its own action ----

TEST(Cli, EverySubcommandRunsItsAction) {
  const std::vector<std::pair<Args, std::string>> cases = {
      {{"info"}, "info"},
      {{"classification", "train", "-e", "s.yaml", "-r", "out"}, "train"},
      {{"classification", "evaluate", "-e", "s.yaml", "-m", "m.kiln"}, "evaluate"},
      {{"classification", "dataset_convert", "-d", "c.yaml", "-o", "shards"}, "dataset_convert"},
      {{"classification", "inference", "-m", "m.kiln", "-i", "imgs", "-o", "out"}, "inference"},
      {{"classification", "export", "-m", "m.kiln", "-o", "m.onnx"}, "export_model"},
      {{"classification", "prune", "-m", "m.kiln", "-o", "p.kiln"}, "prune"},
      {{"detectnet_v2", "train", "-e", "s.yaml", "-r", "out"}, "detectnet_train"},
      {{"detectnet_v2", "evaluate", "-e", "s.yaml", "-m", "m.kiln"}, "detectnet_evaluate"},
      {{"detectnet_v2", "inference", "-e", "s.yaml", "-m", "m.kiln", "-i", "imgs", "-o", "out"},
       "detectnet_inference"},
      {{"detectnet_v2", "dataset_convert", "-d", "c.yaml", "-o", "shards"}, "detectnet_convert"},
      {{"detectnet_v2", "export", "-m", "m.kiln", "-o", "m.onnx"}, "export_model"},
      {{"detectnet_v2", "prune", "-m", "m.kiln", "-o", "p.kiln"}, "prune"},
      {{"cluster", "check"}, "cluster_check"},
      {{"dataset", "synth_kitti", "-o", "synth", "--images", "10", "--seed", "7"}, "synth_kitti"},
  };
  for (const auto& [args, action] : cases) {
    FakeRuntime rt;
    const Outcome o = cli(rt, args);
    EXPECT_EQ(o.code, 0) << testing::PrintToString(args) << "\n" << o.err;
    EXPECT_EQ(rt.actions(), Args{action}) << testing::PrintToString(args);
    EXPECT_EQ(o.out, kPass) << testing::PrintToString(args);
    EXPECT_EQ(std::count(rt.calls.begin(), rt.calls.end(), "install_interrupt_handlers"), 1);
  }
}

TEST(Cli, TrainReceivesItsOptionsAndOverrides) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "-m", "pre.kiln",
                             "--enable_determinism", "--num_threads", "3", "--device", "cpu",
                             "train_config.n_epochs=3", "model_config.freeze_blocks=[0,1]"});
  ASSERT_EQ(o.code, 0) << o.err;
  ASSERT_EQ(rt.actions(), Args{"train"});
  EXPECT_EQ(rt.run.spec_file, "s.yaml");
  EXPECT_EQ(rt.run.results_dir, "out");
  EXPECT_EQ(rt.run.model_path, "pre.kiln");
  EXPECT_TRUE(rt.run.deterministic);
  EXPECT_EQ(rt.run.threads, 3);
  EXPECT_EQ(rt.run.device, "cpu");
  EXPECT_EQ(rt.run.overrides, (Args{"train_config.n_epochs=3", "model_config.freeze_blocks=[0,1]"}));
  EXPECT_EQ(rt.run.rank.source, "single");
}

TEST(Cli, EvaluateAndDetectnetTakeTheirOwnOptions) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"classification", "evaluate", "--model", "m.kiln", "--experiment_spec_file=s.yaml"}).code, 0);
  EXPECT_EQ(rt.run.model_path, "m.kiln");
  EXPECT_EQ(rt.run.spec_file, "s.yaml");
  EXPECT_EQ(rt.run.results_dir, "") << "-r is optional for evaluate";
  EXPECT_FALSE(rt.run.deterministic);

  FakeRuntime det;
  ASSERT_EQ(cli(det, {"detectnet_v2", "evaluate", "-e", "d.yaml", "-m", "d.kiln", "-r", "ev", "a.b=1"}).code, 0);
  EXPECT_EQ(det.actions(), Args{"detectnet_evaluate"});
  EXPECT_EQ(det.run.results_dir, "ev");
  EXPECT_EQ(det.run.overrides, Args{"a.b=1"});
}

TEST(Cli, InferenceOptions) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"classification", "inference", "-m", "m.kiln", "-i", "imgs", "-o", "out", "--batch_size", "8",
                     "--annotate", "eval_config.top_k=3"})
                .code,
            0);
  EXPECT_EQ(rt.inference_opts.run.model_path, "m.kiln");
  EXPECT_EQ(rt.inference_opts.input, "imgs");
  EXPECT_EQ(rt.inference_opts.output_dir, "out");
  EXPECT_EQ(rt.inference_opts.batch_size, 8);
  EXPECT_TRUE(rt.inference_opts.annotate);
  EXPECT_EQ(rt.inference_opts.run.spec_file, "");
  EXPECT_EQ(rt.inference_opts.run.overrides, Args{"eval_config.top_k=3"});

  FakeRuntime det;
  ASSERT_EQ(cli(det, {"detectnet_v2", "inference", "-e", "d.yaml", "-m", "d.kiln", "-i", "a.png", "-o", "o",
                      "--batch_size", "2"})
                .code,
            0);
  EXPECT_EQ(det.detectnet_inference_opts.run.spec_file, "d.yaml");
  EXPECT_EQ(det.detectnet_inference_opts.input, "a.png");
  EXPECT_EQ(det.detectnet_inference_opts.batch_size, 2);
}

TEST(Cli, DatasetConvertTakesSpecOutputAndOverrides) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"detectnet_v2", "dataset_convert", "-d", "kitti.yaml", "-o", "shards", "kitti_config.val_split=20"})
                .code,
            0);
  EXPECT_EQ(rt.actions(), Args{"detectnet_convert"});
  EXPECT_EQ(rt.convert_spec, "kitti.yaml");
  EXPECT_EQ(rt.convert_out, "shards");
  EXPECT_EQ(rt.convert_overrides, Args{"kitti_config.val_split=20"});
}

TEST(Cli, ExportNamesItsNetworkAndTakesTaoOptions) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"detectnet_v2", "export", "-m", "m.kiln", "-o", "m.onnx", "--data_type", "int8", "--batches",
                     "3", "--no_verify", "--gen_ds_config", "--num_threads", "2", "a.b=1"})
                .code,
            0);
  const auto& e = rt.export_opts;
  EXPECT_EQ(e.network, "detectnet_v2");
  EXPECT_EQ(e.run.model_path, "m.kiln");
  EXPECT_EQ(e.output_path, "m.onnx");
  EXPECT_EQ(e.data_type, "int8");
  EXPECT_EQ(e.batches, 3);
  EXPECT_EQ(e.batch_size, 16) << "defaults stay the runtime's";
  EXPECT_FALSE(e.verify);
  EXPECT_TRUE(e.gen_ds_config);
  EXPECT_EQ(e.run.threads, 2);
  EXPECT_EQ(e.run.overrides, Args{"a.b=1"});

  FakeRuntime cls;
  ASSERT_EQ(cli(cls, {"classification", "export", "-m", "m.kiln", "-o", "m.onnx"}).code, 0);
  EXPECT_EQ(cls.export_opts.network, "classification");
  EXPECT_TRUE(cls.export_opts.verify);
}

TEST(Cli, PruneTakesTaoShortOptions) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"classification", "prune", "-m", "m.kiln", "-o", "p.kiln", "-pth", "0.3", "-nf", "4", "-pg", "2",
                     "-eq", "intersection", "-el", "conv1,fc1", "-n", "L2", "-r", "res"})
                .code,
            0);
  const auto& p = rt.prune_opts;
  EXPECT_EQ(p.model_path, "m.kiln");
  EXPECT_EQ(p.output_path, "p.kiln");
  EXPECT_EQ(p.results_dir, "res");
  EXPECT_DOUBLE_EQ(p.prune.threshold, 0.3);
  EXPECT_EQ(p.prune.min_num_filters, 4);
  EXPECT_EQ(p.prune.granularity, 2);
  EXPECT_EQ(p.prune.equalization, "intersection");
  EXPECT_EQ(p.prune.excluded, (Args{"conv1", "fc1"}));
  EXPECT_EQ(p.prune.normalizer, "L2");

  FakeRuntime eq;
  ASSERT_EQ(cli(eq, {"detectnet_v2", "prune", "-m", "m.kiln", "-o", "p.kiln", "-pth=0.25", "--min_num_filters=8"}).code,
            0);
  EXPECT_DOUBLE_EQ(eq.prune_opts.prune.threshold, 0.25);
  EXPECT_EQ(eq.prune_opts.prune.min_num_filters, 8);
  EXPECT_EQ(eq.prune_opts.prune.granularity, 8) << "unset options keep TAO's defaults";
}

TEST(Cli, SynthKittiParsesTheSize) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"dataset", "synth_kitti", "-o", "d", "--images", "20", "--seed", "5", "--size", "96x64",
                     "--max-objects", "3"})
                .code,
            0);
  EXPECT_EQ(rt.synth.output_dir, "d");
  EXPECT_EQ(rt.synth.images, 20);
  EXPECT_EQ(rt.synth.seed, 5u);
  EXPECT_EQ(rt.synth.width, 96);
  EXPECT_EQ(rt.synth.height, 64);
  EXPECT_EQ(rt.synth.max_objects, 3);
  expect_usage_error({"dataset", "synth_kitti", "-o", "d", "--images", "2", "--seed", "1", "--size", "96"},
                     "--size must be WIDTHxHEIGHT (e.g. 160x160), not '96'");
}

TEST(Cli, InfoVerbose) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"info", "-v"}).code, 0);
  EXPECT_TRUE(rt.verbose);
  FakeRuntime quiet;
  ASSERT_EQ(cli(quiet, {"info"}).code, 0);
  EXPECT_FALSE(quiet.verbose);
}

// ---- Command lines that are refused: exit 2, nothing runs ----

TEST(Cli, UsageErrorsExit2AndRunNothing) {
  expect_usage_error({}, "A subcommand is required");
  expect_usage_error({"classification"}, "A subcommand is required");
  expect_usage_error({"classification", "trian", "-e", "s.yaml", "-r", "out"},
                     "unknown subtask 'trian' of 'classification' (did you mean 'train'?)");
  expect_usage_error({"segmentation", "train"}, "unknown network or tool 'segmentation' (one of: ");
  expect_usage_error({"classification", "train", "-r", "out"}, "--experiment_spec_file is required");
  expect_usage_error({"classification", "evaluate", "-e", "s.yaml"}, "--model is required");
  expect_usage_error({"classification", "train", "-e", "s.yaml", "-r", "out", "--launcher", "ssh"}, "--launcher");
  expect_usage_error({"classification", "train", "-e", "s.yaml", "-r", "out", "--device", "tpu"}, "--device");
  expect_usage_error({"classification", "train", "-e", "s.yaml", "-r", "out", "--num_processes", "0"},
                     "must be a whole number of ranks, 1 or more (got 0)");
  expect_usage_error({"classification", "export", "-m", "m", "-o", "o", "--data_type", "int4"}, "--data_type");
  expect_usage_error({"dataset", "synth_kitti", "-o", "d", "--images", "2"}, "--seed is required");
  expect_usage_error({"info", "extra"}, "extra");
  expect_usage_error({"cluster", "check", "a.b=1"}, "a.b=1");
}

TEST(Cli, UnknownWordsNameTheClosestSubcommand) {
  expect_usage_error({"detectnet_v2", "evalute", "-e", "s.yaml"}, "did you mean 'evaluate'?");
  expect_usage_error({"clasification", "train"}, "unknown network or tool 'clasification' (did you mean "
                                                 "'classification'?)");
  expect_usage_error({"classification", "fly"}, "unknown subtask 'fly' of 'classification' (one of: train");
  expect_usage_error({"classification", "ab"}, "unknown subtask 'ab' of 'classification' (one of: ");
}

TEST(Cli, StrayArgumentsAreNotOverrides) {
  expect_usage_error({"classification", "train", "-e", "s.yaml", "-r", "out", "stray"}, "unexpected argument 'stray'");
  expect_usage_error({"classification", "train", "-e", "s.yaml", "-r", "out", "--epochs", "3"},
                     "unexpected argument '--epochs'");
  expect_usage_error({"classification", "dataset_convert", "-d", "c.yaml", "-o", "o", "-x=1"},
                     "unexpected argument '-x=1'");
  expect_usage_error({"detectnet_v2", "export", "-m", "m", "-o", "o", "oops"}, "unexpected argument 'oops'");
}

TEST(Cli, ParseErrorsPrintCliElevenMessageAndHint) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml"});
  EXPECT_EQ(o.code, 2);
  EXPECT_TRUE(contains(o.err, "--results_dir is required")) << o.err;
  EXPECT_TRUE(contains(o.err, "Run with --help for more information.")) << o.err;
  EXPECT_TRUE(contains(o.err, "bad command line (see --help)")) << o.err;
  EXPECT_EQ(std::count(rt.calls.begin(), rt.calls.end(), "install_interrupt_handlers"), 0)
      << "a refused command line installs nothing";
}

// ---- Help and version are answered by the parser alone ----

TEST(Cli, HelpListsSubcommandsAndSharedOptions) {
  FakeRuntime rt;
  const Outcome top = cli(rt, {"--help"});
  EXPECT_EQ(top.code, 0);
  for (const char* name : {"info", "classification", "detectnet_v2", "cluster", "dataset"})
    EXPECT_TRUE(contains(top.out, name)) << name;
  EXPECT_FALSE(contains(top.out, "Execution status")) << "help is not a run";

  const Outcome train = cli(rt, {"classification", "train", "--help"});
  EXPECT_EQ(train.code, 0);
  for (const char* option : {"--experiment_spec_file", "--results_dir", "--enable_determinism", "--num_processes",
                             "--cluster", "--launcher", "--include", "--exclude", "--dry-run", "--gpus",
                             "--gpu_index", "--device", "--num_threads", "--emit-sbatch", "key.path=value"})
    EXPECT_TRUE(contains(train.out, option)) << option;

  const Outcome prune = cli(rt, {"detectnet_v2", "prune", "--help"});
  EXPECT_TRUE(contains(prune.out, "TAO's short forms work too")) << prune.out;
  EXPECT_TRUE(contains(prune.out, "--pruning_threshold")) << prune.out;

  const Outcome version = cli(rt, {"--version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_TRUE(contains(version.out, "kiln ")) << version.out;
  EXPECT_EQ(rt.actions(), Args{});
}

// ---- Errors from an action keep their exit codes ----

TEST(Cli, ActionErrorsMapToExitCodes) {
  const std::vector<std::pair<std::function<void()>, int>> cases = {
      {[] { throw kiln::UsageError("bad spec key"); }, 2},
      {[] { throw kiln::DataError("shard 3: bad CRC"); }, 3},
      {[] { throw kiln::Interrupted(15); }, 143},
      {[] { throw kiln::Interrupted(2); }, 130},
      {[] { throw std::runtime_error("disk full"); }, 1},
  };
  for (const auto& [failure, code] : cases) {
    FakeRuntime rt;
    rt.fail_in = "train";
    rt.failure = failure;
    const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out"});
    EXPECT_EQ(o.code, code) << o.err;
    EXPECT_EQ(o.out, kFail);
  }
  FakeRuntime rt;
  rt.fail_in = "train";
  rt.failure = [] { throw kiln::DataError("shard 3: bad CRC"); };
  EXPECT_TRUE(contains(cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out"}).err, "shard 3: bad CRC"));
}

// ---- Launching: the launch options go to the job, the rest becomes every rank's command ----

TEST(Cli, LaunchChecksThenStartsRanksWithoutTheLaunchOptions) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "--num_processes", "2", "-r", "out",
                             "--launcher=mpirun", "--dry-run", "--num_threads", "1", "-c", "hosts",
                             "--include", "n1", "--exclude", "n2", "--emit-sbatch", "job.sh", "--max_restarts", "3",
                             "--nnodes", "1:2", "train_config.n_epochs=1"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(rt.actions(), (Args{"check_experiment_spec", "launch"})) << "the launcher checks the spec, never trains";
  EXPECT_EQ(rt.run.overrides, Args{"train_config.n_epochs=1"}) << "the check sees the overrides";
  EXPECT_EQ(rt.job.worker_args, (Args{"classification", "train", "-e", "s.yaml", "-r", "out", "--num_threads", "1",
                                      "train_config.n_epochs=1"}));
  EXPECT_EQ(rt.job.num_processes, 2);
  EXPECT_EQ(rt.job.launcher, "mpirun");
  EXPECT_TRUE(rt.job.dry_run);
  EXPECT_EQ(rt.job.cluster_file, "hosts");
  EXPECT_EQ(rt.job.include, "n1");
  EXPECT_EQ(rt.job.exclude, "n2");
  EXPECT_EQ(rt.job.emit_sbatch, "job.sh");
  EXPECT_EQ(rt.job.max_restarts, 3);
  EXPECT_EQ(rt.job.nnodes, "1:2");
  EXPECT_EQ(rt.job.results_dir, "out");
  EXPECT_EQ(rt.job.env, (std::map<std::string, std::string>{{"KILN_DEVICE", "cpu"}}));
}

TEST(Cli, EvaluateChecksOnlyWhatItReads) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"classification", "evaluate", "-e", "s", "-m", "m", "--num_processes", "2"}).code, 0);
  EXPECT_EQ(rt.actions(), (Args{"check_evaluation_spec", "launch"})) << "the training data need not exist";
  FakeRuntime det;
  ASSERT_EQ(cli(det, {"detectnet_v2", "evaluate", "-e", "s", "-m", "m", "--num_processes", "2"}).code, 0);
  EXPECT_EQ(det.actions(), (Args{"check_detectnet_evaluation_spec", "launch"}));
}

TEST(Cli, InferenceLogsGoUnderItsOutputDirectory) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"detectnet_v2", "inference", "-e", "d.yaml", "-m", "d.kiln", "-i", "imgs", "-o", "det_out",
                     "--num_processes", "3"})
                .code,
            0);
  EXPECT_EQ(rt.actions(), (Args{"check_detectnet_inference", "launch"}));
  EXPECT_EQ(rt.job.results_dir, "det_out");
  EXPECT_EQ(rt.job.worker_args,
            (Args{"detectnet_v2", "inference", "-e", "d.yaml", "-m", "d.kiln", "-i", "imgs", "-o", "det_out"}));
}

TEST(Cli, AFailedCheckStartsNoRank) {
  FakeRuntime rt;
  rt.fail_in = "check_inference";
  rt.failure = [] { throw kiln::UsageError("-i imgs does not exist"); };
  const Outcome o =
      cli(rt, {"classification", "inference", "-m", "m", "-i", "imgs", "-o", "out", "--num_processes", "2"});
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(rt.actions(), Args{"check_inference"});
  EXPECT_TRUE(contains(o.err, "-i imgs does not exist")) << o.err;
}

TEST(Cli, AFailedJobExitsWithItsCode) {
  FakeRuntime rt;
  rt.launch_code = 4;
  const Outcome o = cli(rt, {"classification", "evaluate", "-e", "s", "-m", "m", "--num_processes", "2"});
  EXPECT_EQ(o.code, 4);
  EXPECT_TRUE(ends_with(o.out, kFail));
  EXPECT_TRUE(contains(o.err, "the job failed (exit code 4)")) << o.err;
}

TEST(Cli, ARankRunsTheSubtaskItself) {
  FakeRuntime rt;
  rt.rank = rank_of(1, 2);
  ASSERT_EQ(cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "--num_processes", "2", "--gpus", "2"})
                .code,
            0);
  EXPECT_EQ(rt.actions(), Args{"train"}) << "a rank neither launches nor checks the launch flags";
  EXPECT_EQ(rt.run.rank.rank, 1);
  EXPECT_EQ(rt.run.rank.world_size, 2);
  EXPECT_EQ(std::count(rt.calls.begin(), rt.calls.end(), "cuda_devices"), 0);
}

TEST(Cli, ClusterCheckLaunchesOrChecks) {
  FakeRuntime launcher;
  const Outcome o = cli(launcher, {"cluster", "check", "--num_processes", "2", "--dry-run"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(launcher.actions(), Args{"launch"});
  EXPECT_EQ(launcher.job.worker_args, (Args{"cluster", "check"}));
  EXPECT_EQ(launcher.job.num_processes, 2);
  EXPECT_TRUE(contains(o.out, "localhost")) << "the placement table comes first:\n" << o.out;

  FakeRuntime rank;
  rank.rank = rank_of(0, 2);
  ASSERT_EQ(cli(rank, {"cluster", "check", "--num_processes", "2"}).code, 0);
  EXPECT_EQ(rank.actions(), Args{"cluster_check"});
  EXPECT_EQ(rank.checked_rank.world_size, 2);
  EXPECT_EQ(rank.check_opts.sizes_mib, (std::vector<double>{1, 25, 100}));

  FakeRuntime sized;
  sized.rank = rank_of(1, 2);
  ASSERT_EQ(cli(sized, {"cluster", "check", "--sizes", "1,4", "--iterations", "3"}).code, 0);
  EXPECT_EQ(sized.check_opts.sizes_mib, (std::vector<double>{1, 4}));
  EXPECT_EQ(sized.check_opts.iterations, 3);
  EXPECT_EQ(cli(sized, {"cluster", "check", "--sizes", "0"}).code, 2);
  ASSERT_EQ(cli(sized, {"cluster", "check", "--sizes", "0.0625,2"}).code, 0);  // 64 KiB: the latency end
  EXPECT_EQ(sized.check_opts.sizes_mib, (std::vector<double>{0.0625, 2}));
}

// ---- --gpus / --gpu_index ----

TEST(Cli, GpusOnAHostWithoutCudaIsAUsageError) {
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "--gpus", "2"},
                     "--gpus 2 needs CUDA devices and this host has none; for CPU ranks use --num_processes 2");
  expect_usage_error({"detectnet_v2", "train", "-e", "s", "-r", "o", "--gpu_index", "0"}, "needs CUDA devices");
}

TEST(Cli, GpusStartOneCudaRankPerGpu) {
  FakeRuntime rt;
  rt.devices = 4;
  ASSERT_EQ(cli(rt, {"classification", "train", "-e", "s", "-r", "o", "--gpus", "2", "--gpu_index", "2", "3"}).code, 0);
  EXPECT_EQ(rt.actions(), (Args{"check_experiment_spec", "launch"}));
  EXPECT_EQ(rt.job.num_processes, 2);
  EXPECT_EQ(rt.job.env, (std::map<std::string, std::string>{{"KILN_DEVICE", "cuda"}, {"KILN_GPU_INDEX", "2,3"}}));
  EXPECT_EQ(rt.run.device, "cuda");
  EXPECT_EQ(rt.job.worker_args, (Args{"classification", "train", "-e", "s", "-r", "o"}));
  EXPECT_TRUE(rt.rank_env.empty()) << "the launcher's own environment is left alone";
}

TEST(Cli, OneGpuRunsInThisProcess) {
  FakeRuntime rt;
  rt.devices = 4;
  ASSERT_EQ(cli(rt, {"classification", "evaluate", "-e", "s", "-m", "m", "--gpu_index", "3"}).code, 0);
  EXPECT_EQ(rt.actions(), Args{"evaluate"});
  EXPECT_EQ(rt.run.device, "cuda");
  EXPECT_EQ(rt.rank_env, (std::map<std::string, std::string>{{"KILN_GPU_INDEX", "3"}}));
}

TEST(Cli, GpuFlagsThatContradictAreRefused) {
  FakeRuntime two_gpus;
  two_gpus.devices = 2;
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "--gpu_index", "5"},
                     "GPU 5 does not exist: this host has 2 CUDA device(s)", two_gpus);
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "--gpus", "2", "--num_processes", "2"},
                     "--gpus and --num_processes both set the ranks", two_gpus);
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "--gpus", "2", "--gpu_index", "1"},
                     "--gpus 2 needs 2 entries in --gpu_index, got 1", two_gpus);
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "--gpus", "1", "--device", "cpu"},
                     "--gpus asks for GPU ranks but --device is cpu", two_gpus);
}
