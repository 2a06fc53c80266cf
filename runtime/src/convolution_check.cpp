#include "kiln/runtime/convolution_check.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>
#include <torch/version.h>

#include <cmath>
#include <mutex>
#include <vector>

#include "kiln/common/log.h"

namespace kiln::runtime {
namespace {

// max |a - b| / max |b|, `a` in float, `b` the double-precision reference; NaN counts as wrong.
double relative_error(const at::Tensor& a, const at::Tensor& b) {
  const double e = ((a.to(at::kDouble) - b).abs().max() / b.abs().max()).item<double>();
  return std::isnan(e) ? INFINITY : e;
}

// The output, input gradient and weight gradient of a 3x3 convolution (3 images of 14x14) in `type` and `format`.
std::vector<at::Tensor> convolution_and_gradients(const at::Tensor& x, const at::Tensor& w, const at::Tensor& dy,
                                                  at::ScalarType type, at::MemoryFormat format) {
  at::Tensor xs = x.to(type).contiguous(format).requires_grad_(), ws = w.to(type).contiguous(format).requires_grad_();
  const at::Tensor y = at::conv2d(xs, ws, {}, 1, 1);
  const auto grads = torch::autograd::grad({y}, {xs, ws}, {dy.to(type)});
  return {y.detach(), grads[0], grads[1]};
}

}  // namespace

ConvolutionCheck check_cpu_convolutions() {
  // Channel counts that are not a multiple of oneDNN's blocks of 8 and 16, where the fault showed.
  const int64_t cases[][2] = {{9, 10}, {17, 10}, {21, 10}, {33, 16}};
  const char* outputs[] = {"output", "input gradient", "weight gradient"};
  at::AutoGradMode grad(true);  // whatever the caller's mode: autograd::grad below needs a graph
  const auto generator = at::make_generator<at::CPUGeneratorImpl>(1234);
  ConvolutionCheck result;
  for (const auto& c : cases) {
    const at::Tensor x = at::randn({3, c[0], 14, 14}, generator), w = at::randn({c[1], c[0], 3, 3}, generator);
    const at::Tensor dy = at::randn({3, c[1], 14, 14}, generator);
    const auto ref = convolution_and_gradients(x, w, dy, at::kDouble, at::MemoryFormat::Contiguous);
    for (const auto format : {at::MemoryFormat::Contiguous, at::MemoryFormat::ChannelsLast}) {  // training's layouts
      const auto got = convolution_and_gradients(x, w, dy, at::kFloat, format);
      for (size_t k = 0; k < got.size(); ++k) {
        const double error = relative_error(got[k], ref[k]);
        if (error <= result.worst_error) continue;
        result.worst_error = error;
        result.worst_case = log::cat(c[0], "->", c[1], " channels",
                                     format == at::MemoryFormat::ChannelsLast ? " (channels_last), " : ", ", outputs[k]);
      }
    }
  }
  result.ok = result.worst_error <= 1e-4;  // float32 rounding is ~1e-7 of the largest value here
  return result;
}

void guard_cpu_convolutions() {
  static std::once_flag once;
  std::call_once(once, [] {
    const ConvolutionCheck first = check_cpu_convolutions();
    if (first.ok || !at::globalContext().userEnabledMkldnn()) {
      if (!first.ok)
        log::warn(log::cat("LibTorch ", TORCH_VERSION, "'s CPU convolutions disagree with double precision (",
                           first.worst_case, ": off by ", first.worst_error,
                           " of the largest value): results on this CPU are not to be trusted"));
      return;
    }
    at::globalContext().setUserEnabledMkldnn(false);
    const ConvolutionCheck second = check_cpu_convolutions();
    log::warn(log::cat("LibTorch ", TORCH_VERSION, "'s oneDNN convolutions are wrong on this CPU (", first.worst_case,
                       ": off by ", first.worst_error, " of the largest value, against double precision); kiln "
                       "switched oneDNN off for this process: ",
                       second.ok ? "LibTorch's own kernels agree (slower, right; docs/libtorch2.md)"
                                 : log::cat("they are wrong too (", second.worst_case, ": ", second.worst_error, ")")));
  });
}

}  // namespace kiln::runtime
