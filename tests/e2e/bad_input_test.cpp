// Bad input at the command line: clear errors naming the file/key, the documented exit codes, and nothing in an
// existing results directory overwritten or lost.
#include <zlib.h>

#include "e2e/e2e_util.h"

using namespace kiln::testing;

namespace {
const std::string kSpec = sample_spec("classification_lenet5_fmnist.yaml");

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// A results dir holding earlier work, and a snapshot to compare against after a failing run.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return files;
}
}  // namespace

TEST(BadInput, UnknownSpecKeyIsExit2WithLocation) {
  TempDir dir("badkey");
  const fs::path spec = dir.path / "spec.yaml";
  write(spec, "model_config:\n  arch: lenet5\n  input_image_size: \"1,28,28\"\ntrain_config:\n  batch_size_per_gpu: 64\n  n_epoch: 3\n"
              "dataset_config:\n  train: {type: idx, images: /nonexistent/x.gz, labels: /nonexistent/y.gz}\n");
  const auto r = run_kiln("classification train -e " + spec.string() + " -r " + (dir.path / "out").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(spec.string() + ":6:3: train_config.n_epoch: unknown key 'n_epoch' (did you mean 'n_epochs'?)"),
            std::string::npos) << r.output;
  EXPECT_NE(r.output.find("path does not exist: /nonexistent/x.gz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Execution status: FAIL"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path / "out")) << "nothing may be created when the spec is invalid";
}

TEST(BadInput, UnknownArchAndBadOverrideAreExit2) {
  TempDir dir("arch");
  auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "o").string() + " model_config.arch=vgg");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model_config.arch"), std::string::npos) << r.output;
  r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "o").string() + " train_config.batch_size_per_gpu=abc");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("<command line>"), std::string::npos) << r.output;
  r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "o").string() +
               " model_config.arch=resnet 'model_config.freeze_blocks=[5]'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model_config.freeze_blocks: resnet has freeze blocks 0-4 (0 stem, 1-4 stages), got 5"),
            std::string::npos) << r.output;
  r = run_kiln("classification train -r " + (dir.path / "o").string());
  EXPECT_EQ(r.code, 2) << r.output;
  r = run_kiln("classification train -e " + (dir.path / "missing.yaml").string() + " -r " + (dir.path / "o").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("missing.yaml"), std::string::npos) << r.output;
}

TEST(BadInput, CorruptDatasetIsExit3AndKeepsExistingResults) {
  TempDir dir("corrupt");
  const fs::path results = dir.path / "results";
  fs::create_directories(results / "checkpoints");
  write(results / "status.json", "{\"status\": \"SUCCESS\", \"message\": \"an earlier run\"}\n");
  write(results / "model.kiln", "precious earlier model");
  const auto before = snapshot(results);

  const fs::path bad = dir.path / "bad-images.gz";
  write(bad, std::string("\x1f\x8b\x08\x00garbage that is not deflate data", 36));
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + results.string() +
                          " dataset_config.train.images=" + bad.string());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find(bad.string()), std::string::npos) << r.output;

  auto after = snapshot(results);
  for (const auto& [name, content] : before) {
    if (name == "status.json") {
      EXPECT_EQ(after[name].rfind(content, 0), 0u) << "earlier status events must be kept";
      EXPECT_NE(after[name].find("FAILURE"), std::string::npos);
    } else {
      EXPECT_EQ(after[name], content) << name << " was modified";
    }
  }
}

// The same on 2 ranks: the ranks find it (the launcher checks only the spec), and the job exits with their cause, 3,
// not 4 ("a rank failed"), naming the file.
TEST(BadInput, CorruptDatasetInADistributedRunIsExit3) {
  TempDir dir("corrupt2");
  const fs::path bad = dir.path / "bad-images.gz";
  write(bad, std::string("\x1f\x8b\x08\x00garbage that is not deflate data", 36));
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "results").string() +
                          " dataset_config.train.images=" + bad.string() + " --num_processes 2");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find(bad.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Execution status: FAIL"), std::string::npos) << r.output;
}

TEST(BadInput, UnwritableResultsDirIsExit2) {
  TempDir dir("unwritable");
  write(dir.path / "a_file", "x");
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "a_file" / "results").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("a_file/results"), std::string::npos) << r.output;
}

TEST(BadInput, EvaluateRejectsAFileThatIsNotAKilnModel) {
  TempDir dir("notmodel");
  write(dir.path / "model.kiln", "this is not a model");
  const auto r = run_kiln("classification evaluate -e " + kSpec + " -m " + (dir.path / "model.kiln").string());
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_NE(r.output.find("not a kiln model file"), std::string::npos) << r.output;
}

TEST(BadInput, LauncherValidatesTheSpecBeforeStartingRanks) {
  TempDir dir("launchspec");
  const auto r = run_kiln("classification train -e " + kSpec + " -r " + (dir.path / "o").string() +
                          " --num_processes 2 'dataset_config.image_mean=[0.1,0.2]'");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("<command line>: dataset_config.image_mean: needs 1 value"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Launching"), std::string::npos) << "no rank may start with an invalid spec";
}

TEST(BadInput, GpuRanksOnAHostWithoutCudaSuggestCpuRanks) {
  if (kiln::testing::run_shell("nvidia-smi -L >/dev/null 2>&1").code == 0) GTEST_SKIP() << "this host has a GPU";
  TempDir dir("gpus");
  const std::string base = "classification train -e " + kSpec + " -r " + (dir.path / "o").string();
  auto r = run_kiln(base + " --gpus 2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--gpus 2 needs CUDA devices and this host has none; for CPU ranks use --num_processes 2"),
            std::string::npos) << r.output;
  r = run_kiln(base + " --gpu_index 1 0");  // --gpu_index alone asks for one rank per listed GPU
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--gpus 2 needs CUDA devices"), std::string::npos) << r.output;
  r = run_kiln(base + " --device cuda");  // in-process: LibTorch's own view of the host
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("needs a CUDA device"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Launching"), std::string::npos) << r.output;
}
