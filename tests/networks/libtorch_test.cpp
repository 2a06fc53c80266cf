// LibTorch itself, where every network's results rest on it: a single-precision 3x3 convolution agrees with the same
// convolution in double precision for any number of input channels. Double precision runs LibTorch's reference
// kernels (oneDNN has none for it), single precision whatever LibTorch picks for the CPU (oneDNN's blocked kernels,
// which pad channels to 8 or 16). Debian 13's LibTorch 2.6 with its oneDNN 3.7 fails this on the development machine
// for channel counts that are not a multiple of the block (docs/libtorch2.md); without this test the first sign is
// the pruner's tests, whose pruned networks have such widths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include <sstream>

namespace {

TEST(LibTorch, SinglePrecisionConvolutionsAgreeWithDoublePrecision) {
  at::manual_seed(3);
  std::ostringstream wrong;
  int n_wrong = 0;
  for (int64_t in_channels = 1; in_channels <= 48; ++in_channels) {
    const at::Tensor x = at::randn({3, in_channels, 14, 14});
    const at::Tensor w = at::randn({10, in_channels, 3, 3});
    const at::Tensor y = at::conv2d(x, w, {}, 1, 1).to(at::kDouble);
    const at::Tensor ref = at::conv2d(x.to(at::kDouble), w.to(at::kDouble), {}, 1, 1);
    const double error = ((y - ref).abs().max() / ref.abs().max()).item<double>();
    if (error > 1e-5) {  // float32 rounding is ~1e-7 of the largest output here
      wrong << " " << in_channels << " (" << error << ")";
      ++n_wrong;
    }
  }
  EXPECT_EQ(n_wrong, 0) << "3x3 convolutions of 3x14x14 images to 10 channels are wrong (largest error relative to "
                           "the largest output) for these input channel counts:"
                        << wrong.str() << "; LibTorch " << TORCH_VERSION
                        << (at::globalContext().userEnabledMkldnn() ? ", oneDNN enabled" : ", oneDNN disabled");
}

}  // namespace
