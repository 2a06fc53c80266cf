// DetectNet_v2's cost against hand-computed values, and TAO's objective autoweighting
// (runtime/include/kiln/runtime/detection_loss.h).
#include "kiln/runtime/detection_loss.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/common/error.h"

namespace kr = kiln::runtime;

namespace {

kr::DetectionCostConfig one_class() {
  kr::DetectionCostConfig c;
  c.classes.push_back({"bag", 1.f, 0.05f, {1.f, 1.f}, {10.f, 10.f}});
  return c;
}

at::Tensor t(std::vector<float> v, std::vector<int64_t> shape) { return at::tensor(v).view(shape); }

}  // namespace

// One image, one class, a 1×2 grid. Cell 0 is covered (target 1, cov_norm 0.25), cell 1 is not.
TEST(DetectionLoss, HandComputedCost) {
  const auto cfg = one_class();
  const kr::ObjectiveWeights w(cfg);
  EXPECT_FLOAT_EQ(w.cov(0), 1.f / 11.f);  // initial weights normalised over the class's objectives
  EXPECT_FLOAT_EQ(w.bbox(0), 10.f / 11.f);
  const at::Tensor cov_pred = t({0.8f, 0.1f}, {1, 1, 1, 2}).requires_grad_(true);
  const at::Tensor bbox_pred = t({0.1f, 0.f, 0.2f, 0.f, 0.3f, 0.f, 0.4f, 5.f}, {1, 4, 1, 2}).requires_grad_(true);
  const at::Tensor cov_target = t({1.f, 0.f}, {1, 1, 1, 2});
  const at::Tensor bbox_target = t({0.5f, 0.f, 0.5f, 0.f, 0.5f, 0.f, 0.5f, 0.f}, {1, 4, 1, 2});
  const at::Tensor cov_norm = t({0.25f, 0.f}, {1, 1, 1, 2});
  const kr::DetectionCost cost = kr::detection_cost(cov_pred, bbox_pred, cov_target, bbox_target, cov_norm, cfg, w);
  // cov: foreground weight 0.05 on cell 0, 0.95 on cell 1; ε = 1e-5 inside the logs; mean over the 2 cells.
  const double cov = (0.05 * -std::log(0.8 + 1e-5) + 0.95 * -std::log(1 - 0.1 + 1e-5)) / 2;
  // bbox: only cell 0 counts (cov_norm 0.25): |0.1−0.5| + |0.2−0.5| + |0.3−0.5| + |0.4−0.5| = 1.0; cell 1's wild
  // prediction (5.0) is masked out. Mean over 4 channels × 2 cells.
  const double bbox = 0.25 * 1.0 / 8;
  ASSERT_EQ(cost.cov.size(), 1u);
  EXPECT_NEAR(cost.cov[0], cov, 1e-6);
  EXPECT_NEAR(cost.bbox[0], bbox, 1e-7);
  EXPECT_NEAR(cost.total.item<double>(), cov / 11 + bbox * 10 / 11, 1e-6);
  cost.total.backward();
  EXPECT_EQ(bbox_pred.grad()[0][3][0][1].item<float>(), 0.f);  // masked cell: no gradient
  EXPECT_GT(cov_pred.grad()[0][0][0][1].item<float>(), 0.f);    // background cell pushed down
}

TEST(DetectionLoss, ClassWeightsAreNormalised) {
  kr::DetectionCostConfig cfg = one_class();
  cfg.classes.push_back({"coat", 3.f, 0.05f, {1.f, 1.f}, {0.f, 0.f}});  // coat: cov only
  const kr::ObjectiveWeights w(cfg);
  EXPECT_FLOAT_EQ(w.cov(1), 1.f);
  EXPECT_FLOAT_EQ(w.bbox(1), 0.f);
  const at::Tensor cov_pred = at::full({2, 2, 3, 3}, 0.3f), cov_target = at::zeros({2, 2, 3, 3});
  const at::Tensor bbox = at::zeros({2, 8, 3, 3}), norm = at::zeros({2, 2, 3, 3});
  const auto cost = kr::detection_cost(cov_pred, bbox, cov_target, bbox, norm, cfg, w);
  const double per_class = 0.95 * -std::log(0.7 + 1e-5);
  EXPECT_NEAR(cost.total.item<double>(), 0.25 * per_class / 11 + 0.75 * per_class * 1.0, 1e-5);
  EXPECT_THROW(kr::detection_cost(cov_pred, at::zeros({2, 4, 3, 3}), cov_target, bbox, norm, cfg, w), kiln::Error);
}

TEST(DetectionLoss, AutoweightingFollowsTaosHook) {
  auto cfg = one_class();
  kr::ObjectiveWeights w(cfg);
  w.accumulate({at::Tensor(), {1.5}, {0.25}});
  w.accumulate({at::Tensor(), {0.5}, {0.25}});
  EXPECT_EQ(w.epoch_sums(), (std::vector<double>{2.0, 0.5}));
  w.end_epoch(w.epoch_sums());
  // weight_target / sum: cov 1/2 = 0.5, bbox 10/0.5 = 20; normalised by 20.5.
  EXPECT_NEAR(w.cov(0), 0.5 / 20.5, 1e-7);
  EXPECT_NEAR(w.bbox(0), 20 / 20.5, 1e-7);
  EXPECT_EQ(w.epoch_sums(), (std::vector<double>{0.0, 0.0}));  // cleared for the next epoch
  w.end_epoch({0.0, 0.0});  // nothing measured: the weights stay
  EXPECT_NEAR(w.cov(0), 0.5 / 20.5, 1e-7);
  w.end_epoch({1e-9, 1.0});  // clamped to max_objective_weight / min_objective_weight
  EXPECT_FLOAT_EQ(w.cov(0), 0.9999f);
  EXPECT_FLOAT_EQ(w.bbox(0), 1e-4f);
  kr::ObjectiveWeights restored(cfg);
  restored.load_state(w.state());
  EXPECT_FLOAT_EQ(restored.cov(0), 0.9999f);
  EXPECT_THROW(restored.load_state({1.0}), kiln::DataError);

  cfg.enable_autoweighting = false;
  kr::ObjectiveWeights fixed(cfg);
  fixed.end_epoch({2.0, 0.5});
  EXPECT_FLOAT_EQ(fixed.cov(0), 1.f / 11.f);
}
