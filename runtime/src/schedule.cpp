#include "kiln/runtime/schedule.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace kiln::runtime {

namespace {
constexpr double kSoftAnnealStartLr = 3e-4;  // TAO's soft_anneal warm-up starting point
}

double LrSchedule::at(int64_t step, int64_t total_steps) const {
  const double p = total_steps > 0 ? std::clamp(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0) : 0.0;
  const double base = learning_rate;
  switch (kind) {
    case Kind::kStep:
      return base * std::pow(gamma, p * 100.0 / step_size);
    case Kind::kSoftAnneal: {
      if (p < soft_start) return kSoftAnnealStartLr + (base - kSoftAnnealStartLr) * p / soft_start;
      double lr = base;
      for (double point : annealing_points)
        if (p >= point) lr /= annealing_divider;
      return lr;
    }
    case Kind::kSoftStartAnnealing: {
      double t = 1.0;
      if (p < soft_start)
        t = p / soft_start;
      else if (p > annealing)
        t = annealing < 1.0 ? 1.0 - (p - annealing) / (1.0 - annealing) : 1.0;
      return min_learning_rate * std::pow(base / min_learning_rate, t);
    }
    case Kind::kCosine: {
      const double min_lr = base * min_lr_ratio;
      if (p < soft_start) return min_lr + (base - min_lr) * p / soft_start;
      const double t = soft_start < 1.0 ? (p - soft_start) / (1.0 - soft_start) : 1.0;
      return min_lr + (base - min_lr) * 0.5 * (1.0 + std::cos(M_PI * t));
    }
  }
  return base;
}

std::string LrSchedule::describe() const {
  std::ostringstream os;
  switch (kind) {
    case Kind::kStep: os << "step(lr=" << learning_rate << ", step_size=" << step_size << "%, gamma=" << gamma << ")"; break;
    case Kind::kSoftAnneal:
      os << "soft_anneal(lr=" << learning_rate << ", soft_start=" << soft_start << ", divider=" << annealing_divider
         << ", points=" << annealing_points.size() << ")";
      break;
    case Kind::kSoftStartAnnealing:
      os << "soft_start_annealing(min=" << min_learning_rate << ", max=" << learning_rate << ", soft_start="
         << soft_start << ", annealing=" << annealing << ")";
      break;
    case Kind::kCosine:
      os << "cosine(lr=" << learning_rate << ", min_lr_ratio=" << min_lr_ratio << ", soft_start=" << soft_start << ")";
      break;
  }
  return os.str();
}

}  // namespace kiln::runtime
