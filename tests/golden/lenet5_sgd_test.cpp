// Golden tests: kiln's TrainStep on LeNet5 reproduces PyTorch's SGD steps from identical weights — in float32, and
// with bf16 autocast (kiln's AMP against torch.autocast('cpu', torch.bfloat16)).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "golden/npy.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/mixed_precision.h"
#include "kiln/runtime/train_step.h"

namespace fs = std::filesystem;
using kiln::testing::read_npy;

namespace {

// The largest |kiln - PyTorch| over the two steps' losses and every parameter after each step. `moved` gets the
// smallest step any parameter made, so a test can tell a comparison of moved weights from one of untouched ones.
struct Agreement {
  double loss = 0, weights = 0, moved = 1e30;
};

// The reference script's steps in `mode` ("" or "bf16"), written once into a scratch folder (removed with it), and
// kiln's TrainStep compared with them as often as a test asks.
class PyTorchReference {
 public:
  explicit PyTorchReference(const std::string& mode)
      : out_(fs::temp_directory_path() / ("kiln_golden_" + (mode.empty() ? "fp32" : mode) + "_" +
                                          std::to_string(::getpid()))) {
    const std::string cmd = std::string("/usr/bin/python3 ") + KILN_SOURCE_DIR + "/tests/golden/lenet5_sgd_step.py " +
                            out_.string() + " " + mode;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "the PyTorch reference failed: " << cmd;
  }
  ~PyTorchReference() { fs::remove_all(out_); }
  PyTorchReference(const PyTorchReference&) = delete;
  PyTorchReference& operator=(const PyTorchReference&) = delete;

  // kiln's two steps from the reference's weights and batches, with `amp` (nullptr: float32).
  Agreement compare(kiln::runtime::MixedPrecision* amp) const;

 private:
  fs::path out_;
};

Agreement PyTorchReference::compare(kiln::runtime::MixedPrecision* amp) const {
  const fs::path& out = out_;
  at::set_num_threads(1);

  kiln::networks::Architecture a;
  a.arch = "lenet5";
  a.use_batch_norm = false;
  auto net = kiln::networks::create(a);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->named_parameters()) p.value().copy_(read_npy((out / ("init." + p.key() + ".npy")).string()));
  }
  kiln::runtime::OptimizerConfig sgd;
  sgd.momentum = 0.9;
  auto optimizer = kiln::runtime::make_optimizer(sgd, kiln::runtime::trainable_parameters(*net, {}), 0.01);
  kiln::runtime::RegularizerConfig reg;  // L2 5e-4 on Conv2D and Dense weights
  kiln::runtime::TrainStep step(*net, *optimizer, reg, 0.0, nullptr, amp);

  Agreement agree;
  for (int s = 0; s < 2; ++s) {
    const std::string k = std::to_string(s);
    const auto r = step.run(read_npy((out / ("x" + k + ".npy")).string()), read_npy((out / ("y" + k + ".npy")).string()), 0.01);
    agree.loss = std::max(agree.loss, std::abs(r.loss - read_npy((out / ("loss" + k + ".npy")).string()).item<float>()));
    for (auto& p : net->named_parameters()) {
      const at::Tensor ref = read_npy((out / ("step" + k + "." + p.key() + ".npy")).string());
      agree.weights = std::max(agree.weights, (p.value().detach() - ref).abs().max().item<double>());
      const at::Tensor init = read_npy((out / ("init." + p.key() + ".npy")).string());
      agree.moved = std::min(agree.moved, (ref - init).abs().max().item<double>());
    }
  }
  return agree;
}

}  // namespace

TEST(Golden, LeNet5SgdStepsMatchPyTorch) {
  const Agreement a = PyTorchReference("").compare(nullptr);
  EXPECT_LE(a.loss, 1e-5);
  EXPECT_LE(a.weights, 1e-5);
  EXPECT_GT(a.moved, 1e-6) << "the steps must move every parameter, or the comparison proves nothing";
}

// Autocast in bf16 moves the loss and the weights by ~1e-5 from float32 on these batches (PyTorch against itself);
// kiln's AMP step must land on PyTorch's AMP step far closer than that: the same casts of the same operations.
TEST(Golden, LeNet5Bf16AutocastStepsMatchPyTorchAutocast) {
  kiln::runtime::MixedPrecision amp(c10::DeviceType::CPU, at::kBFloat16, std::nullopt);
  const PyTorchReference reference("bf16");
  const Agreement a = reference.compare(&amp);
  EXPECT_LE(a.loss, 1e-6);
  EXPECT_LE(a.weights, 1e-6);
  EXPECT_GT(a.moved, 1e-6);
  // And the float32 step, against PyTorch's bf16 reference, is farther off than kiln's AMP step: autocast ran.
  const Agreement fp32_vs_bf16 = reference.compare(nullptr);
  EXPECT_GT(fp32_vs_bf16.loss, 5 * std::max(a.loss, 1e-7)) << "kiln's float32 step lands as close as its AMP step";
}
