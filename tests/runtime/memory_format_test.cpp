// train_config.memory_format: what auto means, and a network re-laid in channels_last computes and trains as the
// contiguous one (same values, within float32 rounding of a different summation order).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "kiln/networks/network.h"
#include "kiln/runtime/run_start.h"
#include "kiln/runtime/train_step.h"

using kiln::runtime::uses_channels_last;

TEST(MemoryFormat, AutoIsChannelsLast) {
  EXPECT_TRUE(uses_channels_last("auto"));
  EXPECT_TRUE(uses_channels_last("channels_last"));
  EXPECT_FALSE(uses_channels_last("contiguous"));
}

TEST(MemoryFormat, AChannelsLastResNetTrainsAsTheContiguousOne) {
  kiln::networks::Architecture a;
  a.arch = "resnet";
  a.n_layers = 10;
  a.base_width = 16;
  kiln::runtime::RunStart nhwc, nchw;
  for (auto* r : {&nhwc, &nchw}) {
    at::manual_seed(3);
    r->net = kiln::networks::create(a);
    r->params = kiln::runtime::trainable_parameters(*r->net, {});
    r->optimizer = kiln::runtime::make_optimizer({}, r->params, 0.05);
  }
  kiln::runtime::to_channels_last(nhwc);
  int relaid = 0;
  auto contiguous = nchw.net->named_parameters();
  for (const auto& p : nhwc.net->named_parameters()) {
    if (p.value().dim() != 4) continue;
    ++relaid;
    EXPECT_TRUE(p.value().is_contiguous(at::MemoryFormat::ChannelsLast)) << p.key();
    EXPECT_TRUE(at::equal(p.value(), contiguous[p.key()])) << p.key() << ": the values must not change";
  }
  EXPECT_GE(relaid, 8);
  // The optimizer still holds the re-laid tensors: training moves them.
  kiln::runtime::TrainStep a_step(*nhwc.net, *nhwc.optimizer, {}, 0.0), b_step(*nchw.net, *nchw.optimizer, {}, 0.0);
  at::manual_seed(5);
  const at::Tensor x = at::randn({8, 1, 28, 28}), y = at::randint(0, 10, {8});
  for (int s = 0; s < 2; ++s) {
    const auto ra = a_step.run(x, y, 0.05), rb = b_step.run(x, y, 0.05);
    EXPECT_NEAR(ra.loss, rb.loss, 1e-4) << "step " << s;
  }
  // Batch norm amplifies the rounding of another summation order a little; the steps moved weights far more.
  at::manual_seed(3);
  auto untrained = kiln::networks::create(a)->named_parameters();
  double moved = 0;
  for (const auto& p : nhwc.net->named_parameters()) {
    EXPECT_LE((p.value() - contiguous[p.key()]).abs().max().item<double>(), 1e-3) << p.key();
    moved = std::max(moved, (p.value() - untrained[p.key()]).abs().max().item<double>());
    if (p.value().dim() == 4) {
      EXPECT_TRUE(p.value().is_contiguous(at::MemoryFormat::ChannelsLast)) << p.key();
    }
  }
  EXPECT_GT(moved, 1e-2);
}
