// Golden test: kiln's TrainStep on LeNet5 reproduces PyTorch's SGD steps from identical weights (within 1e-5).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "golden/npy.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/train_step.h"

namespace fs = std::filesystem;
using kiln::testing::read_npy;

TEST(Golden, LeNet5SgdStepsMatchPyTorch) {
  const fs::path out = fs::temp_directory_path() / ("kiln_golden_" + std::to_string(::getpid()));
  const std::string cmd = std::string("/usr/bin/python3 ") + KILN_SOURCE_DIR + "/tests/golden/lenet5_sgd_step.py " +
                          out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "the PyTorch reference failed: " << cmd;
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
  kiln::runtime::TrainStep step(*net, *optimizer, reg, 0.0);

  for (int s = 0; s < 2; ++s) {
    const std::string k = std::to_string(s);
    const auto r = step.run(read_npy((out / ("x" + k + ".npy")).string()), read_npy((out / ("y" + k + ".npy")).string()), 0.01);
    EXPECT_NEAR(r.loss, read_npy((out / ("loss" + k + ".npy")).string()).item<float>(), 1e-5);
    for (auto& p : net->named_parameters()) {
      const at::Tensor ref = read_npy((out / ("step" + k + "." + p.key() + ".npy")).string());
      const double diff = (p.value().detach() - ref).abs().max().item<double>();
      EXPECT_LE(diff, 1e-5) << "step " << s << " parameter " << p.key();
      // The step must have moved the weights, or the comparison proves nothing.
      EXPECT_GT((ref - read_npy((out / ("init." + p.key() + ".npy")).string())).abs().max().item<double>(), 1e-6);
    }
  }
  fs::remove_all(out);
}
