#include "kiln/runtime/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

using kiln::runtime::LrSchedule;

TEST(Schedule, StepDecaysContinuouslyLikeTao) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::kStep;
  s.learning_rate = 0.1, s.step_size = 25, s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(s.at(0, 1000), 0.1);
  EXPECT_NEAR(s.at(250, 1000), 0.05, 1e-12);    // one step_size (25% of training) → ×gamma
  EXPECT_NEAR(s.at(125, 1000), 0.1 * std::sqrt(0.5), 1e-12);  // exponent is not floored
  EXPECT_NEAR(s.at(1000, 1000), 0.1 / 16, 1e-12);
}

TEST(Schedule, SoftAnnealWarmsUpThenDivides) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::kSoftAnneal;
  s.learning_rate = 0.01, s.soft_start = 0.1, s.annealing_points = {0.5, 0.8}, s.annealing_divider = 10;
  EXPECT_NEAR(s.at(0, 100), 3e-4, 1e-12);
  EXPECT_NEAR(s.at(5, 100), 3e-4 + (0.01 - 3e-4) * 0.5, 1e-12);
  EXPECT_NEAR(s.at(20, 100), 0.01, 1e-12);
  EXPECT_NEAR(s.at(50, 100), 0.001, 1e-12);
  EXPECT_NEAR(s.at(90, 100), 0.0001, 1e-12);
}

TEST(Schedule, CosineWarmsUpFromMinAndEndsAtMin) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::kCosine;
  s.learning_rate = 0.1, s.min_lr_ratio = 0.01, s.soft_start = 0.2;
  EXPECT_NEAR(s.at(0, 100), 0.001, 1e-12);
  EXPECT_NEAR(s.at(10, 100), 0.001 + (0.1 - 0.001) * 0.5, 1e-12);
  EXPECT_NEAR(s.at(20, 100), 0.1, 1e-12);
  EXPECT_NEAR(s.at(60, 100), 0.001 + (0.1 - 0.001) * 0.5, 1e-12);  // halfway through the decay
  EXPECT_NEAR(s.at(100, 100), 0.001, 1e-12);
  for (int i = 21; i <= 100; ++i) EXPECT_LE(s.at(i, 100), s.at(i - 1, 100) + 1e-15);
}

// DetectNet_v2's soft_start_annealing_schedule: exponential between min and max, t up over soft_start, 1 until
// annealing, then down to 0 at the end.
TEST(Schedule, SoftStartAnnealingIsExponentialBetweenMinAndMax) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::kSoftStartAnnealing;
  s.learning_rate = 5e-4, s.min_learning_rate = 5e-6, s.soft_start = 0.1, s.annealing = 0.7;
  EXPECT_NEAR(s.at(0, 1000), 5e-6, 1e-15);
  EXPECT_NEAR(s.at(50, 1000), std::sqrt(5e-6 * 5e-4), 1e-12);  // halfway up: the geometric mean
  EXPECT_NEAR(s.at(100, 1000), 5e-4, 1e-15);
  EXPECT_NEAR(s.at(400, 1000), 5e-4, 1e-15);
  EXPECT_NEAR(s.at(700, 1000), 5e-4, 1e-15);
  EXPECT_NEAR(s.at(850, 1000), std::sqrt(5e-6 * 5e-4), 1e-12);  // halfway down
  EXPECT_NEAR(s.at(1000, 1000), 5e-6, 1e-15);
  EXPECT_NE(s.describe().find("soft_start_annealing(min=5e-06, max=0.0005"), std::string::npos) << s.describe();
}
