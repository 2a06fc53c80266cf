// LibTorch itself, where every network's results rest on it: a single-precision 3x3 convolution, and its gradients,
// agree with the same convolution in double precision for any number of channels. Double precision runs LibTorch's
// reference kernels (oneDNN has none for it), single precision whatever LibTorch picks for the CPU (oneDNN's blocked
// kernels, which pad channels to 8 or 16). Debian 13's LibTorch 2.6 with its oneDNN 3.7 fails this on the
// development machine for channel counts that are not a multiple of the block (docs/libtorch2.md); without this test
// the first signs are the pruner's tests, whose pruned networks have such widths, and a DetectNet_v2 training whose
// weights now and then end up not finite.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/version.h>

#include <sstream>
#include <vector>

namespace {

// max |a - b| / max |b|, a in float, b the double-precision reference.
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b).abs().max() / b.abs().max()).item<double>();
}

TEST(LibTorch, SinglePrecisionConvolutionsAndGradientsAgreeWithDoublePrecision) {
  at::manual_seed(3);
  const char* names[] = {"output", "input gradient", "weight gradient"};
  int n_wrong[3] = {0, 0, 0};
  std::ostringstream examples[3];
  int n_checks = 0;
  for (int64_t out_channels : {10, 16}) {
    for (int64_t in_channels = 1; in_channels <= 48; ++in_channels) {
      const at::Tensor x = at::randn({3, in_channels, 14, 14}), w = at::randn({out_channels, in_channels, 3, 3});
      const at::Tensor dy = at::randn({3, out_channels, 14, 14});
      const auto run = [&](at::ScalarType type) {
        at::Tensor xs = x.to(type).requires_grad_(), ws = w.to(type).requires_grad_();
        const at::Tensor y = at::conv2d(xs, ws, {}, 1, 1);
        const auto grads = torch::autograd::grad({y}, {xs, ws}, {dy.to(type)});
        return std::vector<at::Tensor>{y.detach(), grads[0], grads[1]};
      };
      const auto got = run(at::kFloat), ref = run(at::kDouble);
      ++n_checks;
      for (size_t k = 0; k < 3; ++k) {
        const double error = relative_error(got[k], ref[k]);
        if (error <= 1e-5) continue;  // float32 rounding is ~1e-7 of the largest value here; NaN fails too
        if (n_wrong[k]++ < 4) examples[k] << " " << in_channels << "->" << out_channels << " (" << error << ")";
      }
    }
  }
  std::ostringstream report;
  for (size_t k = 0; k < 3; ++k)
    if (n_wrong[k]) report << "\n  " << names[k] << ": " << n_wrong[k] << " of " << n_checks << ", e.g." << examples[k].str();
  EXPECT_EQ(n_wrong[0] + n_wrong[1] + n_wrong[2], 0)
      << "3x3 convolutions (3 images of 14x14, in->out channels) disagree with double precision, by the largest error "
         "relative to the largest value; LibTorch "
      << TORCH_VERSION << (at::globalContext().userEnabledMkldnn() ? ", oneDNN enabled" : ", oneDNN disabled")
      << report.str();
}

}  // namespace
