// Learning-rate schedules with TAO's semantics (its classification lr_config and DetectNet_v2's
// soft_start_annealing_schedule; the keys are in docs/specs.md). Pure functions of the global step, so a resumed run
// continues on exactly the same curve.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime {

struct LrSchedule {
  enum class Kind { kStep, kSoftAnneal, kCosine, kSoftStartAnnealing };
  Kind kind = Kind::kCosine;
  double learning_rate = 0.01;  // base LR (already scaled by any LR scaling rule)
  // step
  double step_size = 10;        // percent of total steps per decay by gamma (exponent not floored, as TAO)
  double gamma = 0.1;
  // soft_anneal / cosine
  double soft_start = 0.0;      // fraction of training spent warming up
  std::vector<double> annealing_points;  // soft_anneal: fractions of training
  double annealing_divider = 10;
  double min_lr_ratio = 0.01;   // cosine
  // soft_start_annealing (DetectNet_v2): learning_rate is max_learning_rate; lr = min·(max/min)^t where t rises
  // linearly 0 → 1 over soft_start, stays 1 until `annealing`, then falls linearly back to 0 at the end.
  double min_learning_rate = 5e-6;
  double annealing = 0.7;       // fraction of training where annealing starts (>= soft_start)

  // LR at `step` (0-based) of `total_steps`.
  double at(int64_t step, int64_t total_steps) const;
  std::string describe() const;
};

}  // namespace kiln::runtime
