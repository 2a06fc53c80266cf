// --dry-run for real: it checks and shows (the resolved spec, the launch plan) and never runs or writes anything,
// with or without a launch option, for GPU jobs on a host without a GPU and for batch scripts.
#include "e2e/e2e_util.h"

using namespace kiln::testing;

namespace {
const std::string kSpec = sample_spec("classification_lenet5_fmnist.yaml");

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The folder holds nothing but what the test put there.
bool empty_dir(const fs::path& dir) { return fs::is_empty(dir); }
}  // namespace

TEST(DryRun, TrainShowsTheResolvedSpecAndPlanAndWritesNothing) {
  TempDir dir("dryrun_train");
  const fs::path results = dir.path / "results";
  const auto r = run_shell("cd " + dir.path.string() + " && " + KILN_BIN + " classification train -e " + kSpec +
                           " -r " + results.string() + " --dry-run train_config.n_epochs=2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(results)) << "a dry run writes no results directory";
  EXPECT_TRUE(empty_dir(dir.path)) << "nor anything else";
  EXPECT_NE(r.output.find("Resolved spec (" + kSpec + " with train_config.n_epochs=2):\n---\nmodel_config:\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("  n_epochs: 2\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Launch plan: no launcher; this process runs the subtask itself"), std::string::npos);
  EXPECT_EQ(r.output.find("Epoch 1/"), std::string::npos) << "nothing trained:\n" << r.output;
  EXPECT_EQ(count(r.output, "Execution status: PASS"), 1u) << r.output;
}

TEST(DryRun, ABadSpecFailsItWithExit2) {
  TempDir dir("dryrun_bad");
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "r").string() +
                          " --dry-run train_config.n_epoch=2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown key 'n_epoch'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "r"));
}

TEST(DryRun, InferenceChecksTheModelAndWritesNothing) {
  TempDir dir("dryrun_infer");
  const fs::path model_dir = dir.path / "m";
  const auto train = run_kiln("classification train -e " + kSpec + " -r " + model_dir.string() +
                              " train_config.n_epochs=1 dataset_config.train.max_samples=500 "
                              "dataset_config.val.max_samples=100");
  ASSERT_EQ(train.code, 0) << train.output;
  const fs::path out = dir.path / "inference";
  const auto r = run_kiln("classification inference -m " + (model_dir / "model.kiln").string() +
                          " -i /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz -o " + out.string() +
                          " --annotate --dry-run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_NE(r.output.find("Resolved spec (the spec stored in " + (model_dir / "model.kiln").string() + "):"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("  results:  " + out.string() + "/ (inference.csv, images/)"), std::string::npos)
      << r.output;
  const auto missing = run_kiln("classification inference -m " + (dir.path / "none.kiln").string() + " -i " +
                                dir.path.string() + " -o " + out.string() + " --dry-run");
  EXPECT_NE(missing.code, 0) << "the dry run checks what the run would read:\n" << missing.output;
}

TEST(DryRun, GpuJobIsPreviewedOnAHostWithoutAGpu) {
  if (run_shell("nvidia-smi -L >/dev/null 2>&1").code == 0) GTEST_SKIP() << "this host has a GPU";
  TempDir dir("dryrun_gpu");
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "r").string() +
                          " --gpus 2 --gpu_index 2 3 --dry-run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Launch plan: 2 rank(s): mpirun -np 2 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("-x KILN_DEVICE=cuda -x KILN_GPU_INDEX=2,3"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "r"));
}

TEST(DryRun, BatchScriptIsPrintedNotWritten) {
  TempDir dir("dryrun_sbatch");
  const fs::path script = dir.path / "train.sbatch";
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "r").string() +
                          " --num_processes 2 --emit-sbatch " + script.string() + " --dry-run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("#!/bin/bash\n#SBATCH --job-name=kiln\n"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("--nodelist"), std::string::npos) << "no -c: Slurm picks the node\n" << r.output;
  EXPECT_FALSE(fs::exists(script));
  EXPECT_TRUE(empty_dir(dir.path));
}
