// run_cli() against the recording Runtime: TAO's command lines as typed there — TAO 5's names and `model` word,
// -k, --log_file, -v/-q, the long option names, inference's -d — and help footers with each spec's own keys.
#include "launcher/cli_harness.h"

using namespace kiln_cli_test;

// ---- TAO 5's names ----

TEST(Cli, TaoFiveNetworkNamesAndTheModelWord) {
  const std::vector<std::pair<Args, std::string>> cases = {
      {{"classification_tf1", "train", "-e", "s.yaml", "-r", "out"}, "train"},
      {{"model", "classification_tf1", "evaluate", "-e", "s.yaml", "-m", "m.kiln"}, "evaluate"},
      {{"model", "classification", "prune", "-m", "m.kiln", "-o", "p.kiln"}, "prune"},
      {{"model", "detectnet_v2", "train", "-e", "s.yaml", "-r", "out"}, "detectnet_train"},
      {{"classification_tf1", "export", "-m", "m.kiln", "-o", "m.onnx"}, "export_model"},
  };
  for (const auto& [args, action] : cases) {
    FakeRuntime rt;
    const Outcome o = cli(rt, args);
    EXPECT_EQ(o.code, 0) << testing::PrintToString(args) << "\n" << o.err;
    EXPECT_EQ(rt.actions(), Args{action}) << testing::PrintToString(args);
  }
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"model", "classification_tf1", "train", "-e", "s", "-r", "o", "--num_processes", "2"}).code, 0);
  EXPECT_EQ(rt.job.worker_args, (Args{"classification_tf1", "train", "-e", "s", "-r", "o"}));
  FakeRuntime tf1;
  ASSERT_EQ(cli(tf1, {"classification_tf1", "export", "-m", "m.kiln", "-o", "m.onnx"}).code, 0);
  EXPECT_EQ(tf1.export_opts.network, "classification");

  expect_usage_error({"classification_tf1", "trian", "-e", "s.yaml"}, "did you mean 'train'?");
  expect_usage_error({"model", "classification_tf2", "train", "-e", "s.yaml", "-r", "o"},
                     "unknown network 'classification_tf2': kiln's classification reads TAO's classification_tf1 "
                     "spec");
}

TEST(Cli, HelpFootersShowKeysOfTheirOwnSpec) {
  const std::vector<std::pair<Args, std::string>> cases = {
      {{"classification", "train"}, "train_config.n_epochs=3"},
      {{"classification", "evaluate"}, "eval_config.top_k=3"},
      {{"classification", "dataset_convert"}, "num_shards=8"},
      {{"classification", "export"}, "dataset_config.train.max_samples=2000"},
      {{"detectnet_v2", "train"}, "training_config.num_epochs=3"},
      {{"detectnet_v2", "evaluate"}, "evaluation_config.average_precision_mode=INTEGRATE"},
      {{"detectnet_v2", "dataset_convert"}, "kitti_config.val_split=20"},
      {{"detectnet_v2", "inference"}, "key.path=value"},
      {{"detectnet_v2", "export"}, "key.path=value"},
  };
  for (auto [args, example] : cases) {
    const bool classification_train = args == Args{"classification", "train"};
    args.push_back("--help");
    FakeRuntime rt;
    const Outcome o = cli(rt, args);
    EXPECT_TRUE(contains(o.out, example)) << testing::PrintToString(args) << "\n" << o.out;
    if (!classification_train) {
      EXPECT_FALSE(contains(o.out, "train_config.n_epochs")) << o.out;
    }
  }
}

// ---- TAO's common flags ----

TEST(Cli, KeyIsAcceptedIgnoredAndWarnedOnce) {
  FakeRuntime rt;
  const Outcome o = cli(rt, {"classification", "train", "-e", "s.yaml", "-r", "out", "-k", "nvidia_tlt"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(rt.actions(), Args{"train"});
  EXPECT_TRUE(contains(o.err, "WARNING -k/--key is ignored: kiln model files are not encrypted")) << o.err;

  FakeRuntime launcher;
  const Outcome l = cli(launcher, {"detectnet_v2", "evaluate", "-e", "s", "-m", "m", "--key", "k", "--num_processes",
                                   "2", "--log_file=" + ::testing::TempDir() + "job.log"});
  ASSERT_EQ(l.code, 0) << l.err;
  EXPECT_EQ(launcher.job.worker_args, (Args{"detectnet_v2", "evaluate", "-e", "s", "-m", "m"}))
      << "the ranks get neither -k (one warning per job) nor --log_file (the launcher writes every rank's lines)";
  for (const char* cmd : {"prune", "export", "inference", "dataset_convert"}) {
    FakeRuntime help;
    EXPECT_TRUE(contains(cli(help, {"classification", cmd, "--help"}).out, "-k,--key")) << cmd;
  }
}

TEST(Cli, VerboseAndQuietSetTheLogLevelForTheRun) {
  for (const auto& [flag, level] : std::vector<std::pair<std::string, kiln::log::Level>>{
           {"-v", kiln::log::Level::kDebug}, {"--verbose", kiln::log::Level::kDebug},
           {"-q", kiln::log::Level::kWarn}, {"--quiet", kiln::log::Level::kWarn}}) {
    FakeRuntime rt;
    kiln::log::Level seen = kiln::log::Level::kInfo;
    rt.fail_in = "train";
    rt.failure = [&seen] { seen = kiln::log::level(); };
    ASSERT_EQ(cli(rt, {"classification", "train", "-e", "s", "-r", "o", flag}).code, 0) << flag;
    EXPECT_EQ(seen, level) << flag;
    EXPECT_EQ(kiln::log::level(), kiln::log::Level::kInfo) << "restored after the command line";
  }
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "-v", "-q"}, "excludes");
}

TEST(Cli, LogFileGetsEveryLogLineAndTheStatus) {
  const std::string path = ::testing::TempDir() + "kiln_cli_log_file.log";
  std::remove(path.c_str());
  FakeRuntime rt;
  rt.fail_in = "evaluate";
  rt.failure = [] {
    kiln::log::info("evaluating");
    throw kiln::DataError("shard 3: bad CRC");
  };
  const Outcome o = cli(rt, {"classification", "evaluate", "-e", "s", "-m", "m", "--log_file", path});
  EXPECT_EQ(o.code, 3);
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(text, " INFO evaluating\n")) << text;
  EXPECT_TRUE(contains(text, " ERROR shard 3: bad CRC\n")) << text;
  EXPECT_TRUE(ends_with(text, "Execution status: FAIL\n")) << text;
  expect_usage_error({"classification", "train", "-e", "s", "-r", "o", "--log_file", "/nonexistent/dir/x.log"},
                     "--log_file /nonexistent/dir/x.log: cannot open it");
}

TEST(Cli, TaoLongFormsAndInferenceInputs) {
  FakeRuntime rt;
  ASSERT_EQ(cli(rt, {"classification", "evaluate", "--experiment_spec", "s.yaml", "--model_path", "m.kiln",
                     "--results_dir", "ev"})
                .code,
            0);
  EXPECT_EQ(rt.run.spec_file, "s.yaml");
  EXPECT_EQ(rt.run.model_path, "m.kiln");
  EXPECT_EQ(rt.run.results_dir, "ev");

  FakeRuntime folder;
  ASSERT_EQ(cli(folder, {"classification", "inference", "-m", "m", "-d", "imgs/", "-r", "out"}).code, 0);
  EXPECT_EQ(folder.inference_opts.input, "imgs/") << "-d: TAO's image folder";
  EXPECT_EQ(folder.inference_opts.output_dir, "out") << "-r: TAO 5's results_dir";
  FakeRuntime det;
  ASSERT_EQ(cli(det, {"detectnet_v2", "inference", "-e", "d", "-m", "m", "--image_dir", "imgs", "-o", "o"}).code, 0);
  EXPECT_EQ(det.detectnet_inference_opts.input, "imgs");
  FakeRuntime image;
  ASSERT_EQ(cli(image, {"classification", "inference", "-m", "m", "--image", "a.png", "-o", "o"}).code, 0);
  EXPECT_EQ(image.inference_opts.input, "a.png");

  expect_usage_error({"classification", "inference", "-m", "m", "-o", "o"}, "inference needs its input: -i");
  expect_usage_error({"classification", "inference", "-m", "m", "-i", "a.png", "-d", "imgs", "-o", "o"}, "excludes");
}
