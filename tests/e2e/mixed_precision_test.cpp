// Mixed precision through the CLI: `--use_amp` trains LeNet5 in bf16 autocast on this CPU; deterministic reruns are
// bit-identical; the model holds float32 weights that evaluate, export and inference load as any other model; fp16
// on a CPU is refused naming the key.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"
#include "kiln/runtime/model_file.h"

using namespace kiln::testing;

namespace {

const std::string kTrain = "classification train -e " + sample_spec("classification_lenet5_fmnist.yaml") +
                           " --enable_determinism --num_threads 1 train_config.n_epochs=1"
                           " dataset_config.train.max_samples=2000 dataset_config.val.max_samples=500";

kiln::runtime::ModelFile train(const fs::path& results, const std::string& flags) {
  const auto r = run_kiln(kTrain + " -r " + results.string() + " " + flags);
  EXPECT_EQ(r.code, 0) << r.output;
  return kiln::runtime::read_model_file((results / "model.kiln").string());
}

bool same_weights(const kiln::runtime::ModelFile& a, const kiln::runtime::ModelFile& b) {
  if (a.tensors.size() != b.tensors.size()) return false;
  for (const auto& [name, t] : a.tensors)
    if (!at::equal(t, b.tensors.at(name))) return false;
  return true;
}

}  // namespace

TEST(MixedPrecision, UseAmpTrainsInBf16ReproduciblyAndItsModelServesAsAnyOther) {
  TempDir dir("amp");
  const fs::path amp = dir.path / "amp";
  const auto r = run_kiln(kTrain + " -r " + amp.string() + " --use_amp");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Mixed precision: bf16 autocast on cpu, float32 weights"), std::string::npos) << r.output;
  const auto model = kiln::runtime::read_model_file((amp / "model.kiln").string());
  for (const auto& [name, t] : model.tensors) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  // The flag is the spec key: the spec stored with the model says so.
  EXPECT_NE(model.meta["spec"].get<std::string>().find("amp:\n    enabled: true"), std::string::npos)
      << model.meta["spec"].get<std::string>();

  EXPECT_TRUE(same_weights(model, train(dir.path / "amp_again", "--use_amp")))
      << "a deterministic AMP run must repeat bit for bit";
  EXPECT_TRUE(same_weights(model, train(dir.path / "amp_key", "train_config.amp.enabled=true")))
      << "--use_amp and train_config.amp.enabled=true are the same run";
  EXPECT_FALSE(same_weights(model, train(dir.path / "fp32", "")))
      << "bf16 autocast must change the arithmetic, or the AMP run was a float32 run";

  const std::string m = (amp / "model.kiln").string();
  auto ev = run_kiln("classification evaluate -e " + sample_spec("classification_lenet5_fmnist.yaml") + " -m " + m +
                     " dataset_config.val.max_samples=500");
  ASSERT_EQ(ev.code, 0) << ev.output;
  const auto metrics = nlohmann::json::parse(slurp(amp / "evaluation" / "metrics.json"));
  EXPECT_GT(metrics["top1_accuracy"].get<double>(), 0.5) << ev.output;  // chance is 0.1

  ev = run_kiln("classification export -m " + m + " -o " + (dir.path / "amp.onnx").string());
  ASSERT_EQ(ev.code, 0) << ev.output;
  EXPECT_GT(fs::file_size(dir.path / "amp.onnx"), 1000u);

  ev = run_kiln("classification inference -m " + m +
                " -i /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz -o " + (dir.path / "inf").string() +
                " --batch_size 500");
  ASSERT_EQ(ev.code, 0) << ev.output;
  EXPECT_TRUE(fs::exists(dir.path / "inf" / "inference.csv"));
}

TEST(MixedPrecision, Fp16OnACpuIsRefusedNamingTheKey) {
  TempDir dir("amp_fp16");
  const auto r = run_kiln(kTrain + " -r " + (dir.path / "r").string() + " --use_amp train_config.amp.dtype=fp16");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train_config.amp.dtype: fp16 autocast needs a GPU"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir.path / "r" / "model.kiln"));
}

// DetectNet_v2's objective (coverage and box losses, the autoweighting) under autocast: a short run on synthetic
// scenes trains, validates and writes a float32 model.
TEST(MixedPrecision, DetectNetV2TrainsWithUseAmp) {
  TempDir dir("amp_detectnet");
  const std::string small = small_synth_detection(dir.path, 24, 4);
  ASSERT_FALSE(HasFailure()) << "the synthetic scenes or their shards were not made";
  const fs::path run = dir.path / "run";
  const auto r = run_kiln("detectnet_v2 train -e " + sample_spec("detectnet_v2_synth.yaml") + " -r " + run.string() +
                          " --use_amp" + small +
                          " training_config.num_epochs=1 training_config.batch_size_per_gpu=4"
                          " evaluation_config.first_validation_epoch=1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Mixed precision: bf16 autocast on cpu"), std::string::npos) << r.output;
  const auto model = kiln::runtime::read_model_file((run / "model.kiln").string());
  for (const auto& [name, t] : model.tensors) {
    if (!t.is_floating_point()) continue;  // batch norm's num_batches_tracked
    EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
    EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << name;
  }
}
