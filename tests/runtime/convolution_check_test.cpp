// The convolution check every kiln process runs: after guard_cpu_convolutions, LibTorch's CPU convolutions and their
// gradients agree with double precision, whether this LibTorch needed oneDNN switched off for it (Debian 13's 2.6 on
// the development machine) or not (Debian 12's 1.13).
#include "kiln/runtime/convolution_check.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

TEST(ConvolutionCheck, AfterTheGuardConvolutionsAgreeWithDoublePrecision) {
  kiln::runtime::guard_cpu_convolutions();
  const auto r = kiln::runtime::check_cpu_convolutions();
  EXPECT_TRUE(r.ok) << r.worst_case << ": off by " << r.worst_error
                    << (at::globalContext().userEnabledMkldnn() ? " (oneDNN on)" : " (oneDNN off)");
  // float32 is not float64: a check that found no difference at all compared nothing.
  EXPECT_GT(r.worst_error, 0.0);
  EXPECT_FALSE(r.worst_case.empty());
}
