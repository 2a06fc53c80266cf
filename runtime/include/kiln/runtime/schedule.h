// Learning-rate schedules with TAO's semantics (shared/reference/tao-specs.md §1, lr_config). Pure functions of the
// global step, so a resumed run continues on exactly the same curve.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::runtime {

struct LrSchedule {
  enum class Kind { kStep, kSoftAnneal, kCosine };
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

  // LR at `step` (0-based) of `total_steps`.
  double at(int64_t step, int64_t total_steps) const;
  std::string describe() const;
};

}  // namespace kiln::runtime
