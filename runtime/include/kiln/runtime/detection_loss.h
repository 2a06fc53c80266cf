// DetectNet_v2's cost (TAO's cost_function_config; docs/detection.md): per target class c and objective o,
//   cov:  mean over [N, H, W] of w · BCE(cov_target, cov_pred), BCE with ε = 1e-5 inside the logs and
//         w = coverage_foreground_weight where the target is > 0.5, 1 − coverage_foreground_weight elsewhere;
//   bbox: mean over [N, 4, H, W] of cov_norm · |bbox_pred − bbox_target| (the L1 loss masked by coverage);
//   total = Σ_c Σ_o cost_{c,o} · class_weight_c / Σ class_weight · objective_weight_{c,o}.
// Objective weights start at initial_weight normalised over the class's objectives; with enable_autoweighting they
// are recomputed after each epoch as weight_target / (the objective's summed cost over the epoch), normalised to sum
// 1 and clamped to [min_objective_weight, max_objective_weight] — TAO's CostAutoWeightHook, cost sums all-reduced.
#pragma once
#include <ATen/Tensor.h>

#include <string>
#include <vector>

namespace kiln::runtime {

struct DetectionObjective {
  float initial_weight = 1.f, weight_target = 1.f;
};

struct DetectionClassCost {
  std::string name;
  float class_weight = 1.f;
  float coverage_foreground_weight = 0.05f;
  DetectionObjective cov{1.f, 1.f}, bbox{10.f, 10.f};  // TAO's defaults
};

struct DetectionCostConfig {
  std::vector<DetectionClassCost> classes;  // output channel order
  bool enable_autoweighting = true;
  float min_objective_weight = 1e-4f, max_objective_weight = 0.9999f;
};

struct DetectionCost {
  at::Tensor total;                 // scalar, differentiable
  std::vector<double> cov, bbox;    // per class, the unweighted mean costs of this batch
};

// The objective weights and their per-epoch update (the autoweighting hook).
class ObjectiveWeights {
 public:
  explicit ObjectiveWeights(const DetectionCostConfig& config);
  float cov(size_t c) const { return cov_[c]; }
  float bbox(size_t c) const { return bbox_[c]; }
  void accumulate(const DetectionCost& batch);  // adds the batch's per-class costs to the epoch sums
  // Sums of this epoch's per-class costs, for all-reducing across ranks before end_epoch(): [cov..., bbox...].
  std::vector<double> epoch_sums() const;
  // Resuming inside an epoch: the sums this rank had when the checkpoint was taken.
  void restore_epoch_sums(const std::vector<double>& sums);
  // Ends the epoch with (all-reduced) sums: updates the weights when autoweighting is on, then clears the sums.
  void end_epoch(const std::vector<double>& sums);
  // For checkpoints: [cov..., bbox...] and back.
  std::vector<double> state() const;
  void load_state(const std::vector<double>& state);

 private:
  DetectionCostConfig config_;
  std::vector<float> cov_, bbox_;
  std::vector<double> cov_sum_, bbox_sum_;
};

// cov_pred [N, C, H, W] (after the sigmoid), bbox_pred [N, 4C, H, W]; targets as the rasteriser writes them:
// cov_target [N, C, H, W], bbox_target [N, 4C, H, W], cov_norm [N, C, H, W].
DetectionCost detection_cost(const at::Tensor& cov_pred, const at::Tensor& bbox_pred, const at::Tensor& cov_target,
                             const at::Tensor& bbox_target, const at::Tensor& cov_norm,
                             const DetectionCostConfig& config, const ObjectiveWeights& weights);

}  // namespace kiln::runtime
