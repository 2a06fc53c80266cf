// Mixed precision: the autocast region, dynamic loss scaling (scaling and unscaling by a power of two changes no
// weight; non-finite gradients skip the step and halve the scale; clean steps double it), its checkpoint state, and
// what train_config.amp resolves to on each device.
#include "kiln/runtime/mixed_precision.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "kiln/common/torch_compat.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/train_step.h"

using kiln::runtime::AmpConfig;
using kiln::runtime::LossScaler;
using kiln::runtime::MixedPrecision;

namespace {

// LeNet5 from seed 7, trained `steps` SGD steps on fixed random batches through TrainStep with `amp`; with `poison`,
// each batch holds one infinite pixel, so its gradients are not finite.
std::shared_ptr<kiln::networks::Network> trained_lenet(MixedPrecision* amp, int steps, bool poison = false) {
  at::manual_seed(7);
  kiln::networks::Architecture a;
  a.arch = "lenet5";
  auto net = kiln::networks::create(a);
  kiln::runtime::OptimizerConfig sgd;
  auto optimizer = kiln::runtime::make_optimizer(sgd, kiln::runtime::trainable_parameters(*net, {}), 0.05);
  kiln::runtime::TrainStep step(*net, *optimizer, {}, 0.0, nullptr, amp);
  at::manual_seed(11);
  for (int s = 0; s < steps; ++s) {
    at::Tensor x = at::randn({16, 1, 28, 28});
    if (poison) x[3][0][14][14] = std::numeric_limits<float>::infinity();
    step.run(x, at::randint(0, 10, {16}), 0.05);
  }
  return net;
}

bool same_weights(kiln::networks::Network& a, kiln::networks::Network& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& p : pa)
    if (!at::equal(p.value(), pb[p.key()])) return false;
  return true;
}

AmpConfig enabled(const std::string& dtype) {
  AmpConfig c;
  c.enabled = true;
  c.dtype = dtype;
  c.group = "train_config.amp";
  return c;
}

}  // namespace

TEST(MixedPrecision, AutocastRegionComputesInBf16AndRestoresFloat32After) {
  const MixedPrecision amp(c10::DeviceType::CPU, at::kBFloat16, std::nullopt);
  const at::Tensor a = at::randn({8, 8}), b = at::randn({8, 8});
  {
    const auto outer = amp.autocast();
    EXPECT_EQ(at::mm(a, b).scalar_type(), at::kBFloat16);
    {
      const auto inner = amp.autocast();
      EXPECT_EQ(at::mm(a, b).scalar_type(), at::kBFloat16);
    }
    EXPECT_TRUE(kiln::torch_compat::autocast_enabled(c10::DeviceType::CPU)) << "the inner region ended the outer";
  }
  EXPECT_FALSE(kiln::torch_compat::autocast_enabled(c10::DeviceType::CPU));
  EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
  const auto off = MixedPrecision().autocast();
  EXPECT_EQ(at::mm(a, b).scalar_type(), at::kFloat);
}

TEST(MixedPrecision, LossScalingByAPowerOfTwoLeavesEveryWeightAsWithout) {
  MixedPrecision plain(c10::DeviceType::CPU, at::kBFloat16, std::nullopt);
  MixedPrecision scaled(c10::DeviceType::CPU, at::kBFloat16, LossScaler(1024.0, 2));
  auto a = trained_lenet(&plain, 3), b = trained_lenet(&scaled, 3);
  EXPECT_TRUE(same_weights(*a, *b));
  EXPECT_EQ(scaled.scaler()->scale(), 2048.0) << "doubled after 2 clean steps, not yet after the third";
  EXPECT_EQ(scaled.scaler()->skipped_steps(), 0);
  // Autocast itself changes the arithmetic: the bf16 run is not the float32 one.
  auto fp32 = trained_lenet(nullptr, 3);
  EXPECT_FALSE(same_weights(*a, *fp32));
}

TEST(MixedPrecision, NonFiniteGradientsSkipTheStepAndHalveTheScale) {
  MixedPrecision scaled(c10::DeviceType::CPU, at::kBFloat16, LossScaler(65536, 2000));
  auto untouched = trained_lenet(nullptr, 0);
  auto net = trained_lenet(&scaled, 2, /*poison=*/true);
  EXPECT_TRUE(same_weights(*net, *untouched)) << "a step with non-finite gradients must not move any weight";
  EXPECT_EQ(scaled.scaler()->scale(), 16384.0);
  EXPECT_EQ(scaled.scaler()->skipped_steps(), 2);
  // Without loss scaling nothing guards the step: the same batches ruin the weights.
  auto ruined = trained_lenet(nullptr, 1, /*poison=*/true);
  EXPECT_FALSE(same_weights(*ruined, *untouched));
}

TEST(MixedPrecision, TheLossScaleSurvivesACheckpoint) {
  LossScaler s(65536, 3);
  const at::Tensor p = at::ones({2}).requires_grad_();
  p.mutable_grad() = at::ones({2});
  ASSERT_TRUE(s.unscale_and_update({p}));
  LossScaler restored(1, 3);
  restored.restore(nlohmann::json::parse(s.state().dump()));
  EXPECT_EQ(restored.scale(), 65536);
  // One clean step was counted before the checkpoint: two more double the scale.
  for (int i = 0; i < 2; ++i) {
    p.mutable_grad() = at::ones({2});
    ASSERT_TRUE(restored.unscale_and_update({p}));
  }
  EXPECT_EQ(restored.scale(), 131072);
}

TEST(MixedPrecision, TheSpecResolvesPerDevice) {
  EXPECT_FALSE(MixedPrecision::from_config(AmpConfig{}, c10::Device(c10::kCPU)).enabled());

  const MixedPrecision cpu = MixedPrecision::from_config(enabled("auto"), c10::Device(c10::kCPU));
  EXPECT_TRUE(cpu.enabled());
  EXPECT_EQ(cpu.dtype(), at::kBFloat16);
  EXPECT_EQ(cpu.scaler(), nullptr) << "bf16 has float32's range: no loss scaling";

  // Resolving for a GPU touches no GPU: what a CUDA rank gets (TAO's AMP: fp16 with dynamic loss scaling).
  const MixedPrecision gpu = MixedPrecision::from_config(enabled("auto"), c10::Device(c10::kCUDA, 0));
  EXPECT_EQ(gpu.dtype(), at::kHalf);
  ASSERT_NE(gpu.scaler(), nullptr);
  EXPECT_EQ(gpu.scaler()->scale(), 65536.0);
  EXPECT_EQ(MixedPrecision::from_config(enabled("bf16"), c10::Device(c10::kCUDA, 0)).scaler(), nullptr);

  try {
    MixedPrecision::from_config(enabled("fp16"), c10::Device(c10::kCPU));
    FAIL() << "fp16 on a CPU was accepted";
  } catch (const kiln::specs::SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("train_config.amp.dtype: fp16 autocast needs a GPU"), std::string::npos)
        << e.what();
  }
}
