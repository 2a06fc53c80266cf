// DetectNet_v2's cost and objective autoweighting (detection_loss.h).
#include "kiln/runtime/detection_loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::runtime {

ObjectiveWeights::ObjectiveWeights(const DetectionCostConfig& config) : config_(config) {
  if (config.classes.empty()) throw UsageError("cost_function_config: no target classes");
  for (const auto& c : config.classes) {
    const float sum = c.cov.initial_weight + c.bbox.initial_weight;
    cov_.push_back(sum > 0 ? c.cov.initial_weight / sum : 0.f);
    bbox_.push_back(sum > 0 ? c.bbox.initial_weight / sum : 0.f);
  }
  cov_sum_.assign(config.classes.size(), 0.0);
  bbox_sum_.assign(config.classes.size(), 0.0);
}

void ObjectiveWeights::accumulate(const DetectionCost& batch) {
  // A batch whose costs are not finite (an fp16 overflow, whose step loss scaling skipped) would make every later
  // weight NaN: it does not count.
  for (size_t c = 0; c < cov_sum_.size(); ++c)
    if (!std::isfinite(batch.cov[c]) || !std::isfinite(batch.bbox[c])) return;
  for (size_t c = 0; c < cov_sum_.size(); ++c) cov_sum_[c] += batch.cov[c], bbox_sum_[c] += batch.bbox[c];
}

std::vector<double> ObjectiveWeights::epoch_sums() const {
  std::vector<double> s(cov_sum_);
  s.insert(s.end(), bbox_sum_.begin(), bbox_sum_.end());
  return s;
}

void ObjectiveWeights::restore_epoch_sums(const std::vector<double>& sums) {
  const size_t C = cov_.size();
  if (sums.size() != 2 * C) throw Error(log::cat("objective weights: ", sums.size(), " epoch sums for ", C, " classes"));
  cov_sum_.assign(sums.begin(), sums.begin() + static_cast<std::ptrdiff_t>(C));
  bbox_sum_.assign(sums.begin() + static_cast<std::ptrdiff_t>(C), sums.end());
}

void ObjectiveWeights::end_epoch(const std::vector<double>& sums) {
  const size_t C = cov_.size();
  if (sums.size() != 2 * C) throw Error(log::cat("objective weights: ", sums.size(), " sums for ", C, " classes"));
  if (config_.enable_autoweighting) {
    for (size_t c = 0; c < C; ++c) {
      const auto& cls = config_.classes[c];
      const double wc = sums[c] == 0 ? 0 : cls.cov.weight_target / sums[c];
      const double wb = sums[C + c] == 0 ? 0 : cls.bbox.weight_target / sums[C + c];
      const double total = wc + wb;
      if (total == 0) continue;  // TAO keeps the old weights
      cov_[c] = std::clamp(static_cast<float>(wc / total), config_.min_objective_weight, config_.max_objective_weight);
      bbox_[c] = std::clamp(static_cast<float>(wb / total), config_.min_objective_weight, config_.max_objective_weight);
    }
  }
  std::fill(cov_sum_.begin(), cov_sum_.end(), 0.0);
  std::fill(bbox_sum_.begin(), bbox_sum_.end(), 0.0);
}

std::vector<double> ObjectiveWeights::state() const {
  std::vector<double> s(cov_.begin(), cov_.end());
  s.insert(s.end(), bbox_.begin(), bbox_.end());
  return s;
}

void ObjectiveWeights::load_state(const std::vector<double>& state) {
  const size_t C = cov_.size();
  if (state.size() != 2 * C)
    throw DataError(log::cat("checkpoint: ", state.size(), " objective weights for ", C, " classes (expected ", 2 * C,
                             ")"));
  for (size_t c = 0; c < C; ++c) cov_[c] = static_cast<float>(state[c]), bbox_[c] = static_cast<float>(state[C + c]);
}

DetectionCost detection_cost(const at::Tensor& cov_pred_in, const at::Tensor& bbox_pred_in,
                             const at::Tensor& cov_target, const at::Tensor& bbox_target, const at::Tensor& cov_norm,
                             const DetectionCostConfig& config, const ObjectiveWeights& weights) {
  // The objective in float32 whatever the heads computed in (bf16/fp16 under mixed precision), as autocast keeps
  // losses: the log of a coverage near 0 or 1 needs float32's precision.
  const at::Tensor cov_pred = cov_pred_in.to(at::kFloat), bbox_pred = bbox_pred_in.to(at::kFloat);
  const int64_t C = static_cast<int64_t>(config.classes.size());
  if (cov_pred.dim() != 4 || cov_pred.size(1) != C || bbox_pred.size(1) != 4 * C ||
      !cov_target.sizes().equals(cov_pred.sizes()) || !bbox_target.sizes().equals(bbox_pred.sizes()) ||
      !cov_norm.sizes().equals(cov_pred.sizes()))
    throw Error(log::cat("detection cost: shapes do not match ", C, " classes (cov ", cov_pred.sizes(), ", bbox ",
                         bbox_pred.sizes(), ")"));
  constexpr double kEps = 1e-5;
  double class_weight_sum = 0;
  for (const auto& c : config.classes) class_weight_sum += c.class_weight;
  const int64_t N = cov_pred.size(0), H = cov_pred.size(2), W = cov_pred.size(3);
  // [N, C, 4, H, W] views so each class's four bbox channels broadcast against its cov_norm.
  const at::Tensor bp = bbox_pred.view({N, C, 4, H, W}), bt = bbox_target.view({N, C, 4, H, W});
  const at::Tensor l1 = (bp - bt).abs() * cov_norm.unsqueeze(2);
  const at::Tensor bce = -(cov_target * (cov_pred + kEps).log() + (1 - cov_target) * (1 - cov_pred + kEps).log());
  std::vector<double> fg(static_cast<size_t>(C));
  for (size_t c = 0; c < fg.size(); ++c) fg[c] = config.classes[c].coverage_foreground_weight;
  const at::Tensor fgw = at::tensor(fg, cov_pred.options()).view({1, C, 1, 1});
  const at::Tensor w = at::where(cov_target > 0.5, fgw, 1 - fgw);
  const at::Tensor cov_cost = (w * bce).mean(at::IntArrayRef{0, 2, 3});  // [C]
  const at::Tensor bbox_cost = l1.mean(at::IntArrayRef{0, 2, 3, 4});     // [C]
  std::vector<double> cw(static_cast<size_t>(C)), bw(static_cast<size_t>(C));
  for (size_t c = 0; c < static_cast<size_t>(C); ++c) {
    const double k = config.classes[c].class_weight / class_weight_sum;
    cw[c] = k * weights.cov(c), bw[c] = k * weights.bbox(c);
  }
  DetectionCost out;
  out.total = (cov_cost * at::tensor(cw, cov_cost.options())).sum() +
              (bbox_cost * at::tensor(bw, bbox_cost.options())).sum();
  const at::Tensor cc = cov_cost.detach().to(at::kCPU, at::kDouble), bc = bbox_cost.detach().to(at::kCPU, at::kDouble);
  out.cov.assign(cc.data_ptr<double>(), cc.data_ptr<double>() + C);
  out.bbox.assign(bc.data_ptr<double>(), bc.data_ptr<double>() + C);
  return out;
}

}  // namespace kiln::runtime
