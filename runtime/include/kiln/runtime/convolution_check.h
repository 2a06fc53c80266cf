// A check of LibTorch's CPU convolutions, once per process, before kiln trusts them (docs/libtorch2.md): Debian 13's
// LibTorch 2.6 with its oneDNN 3.7 computes single-precision 3x3 convolutions and their gradients wrongly on an
// AVX-512 machine for channel counts that are not a multiple of oneDNN's block (off by 10-50 %, sometimes NaN), and a
// model trained on them is silently wrong. The check compares a few such float32 convolutions, in NCHW and in
// channels_last, with the same ones in double precision (LibTorch's reference kernels); when they disagree, kiln switches oneDNN off for the process (LibTorch's
// own kernels: slower, right) and says so. A correct LibTorch costs a few milliseconds and changes nothing.
#pragma once
#include <string>

namespace kiln::runtime {

struct ConvolutionCheck {
  bool ok = true;
  double worst_error = 0;  // largest |float - double| / max |double| over every case and output
  std::string worst_case;  // e.g. "21->10 channels, input gradient"
};

// Runs the check with LibTorch as it is configured now (oneDNN on or off).
ConvolutionCheck check_cpu_convolutions();

// Once per process (later calls return at once): check_cpu_convolutions(); on a failure with oneDNN enabled, disables
// oneDNN, checks again and logs a warning naming the case and both results. Called by configure_threads, which
// train, evaluate, inference and export run before they use a network (prune only reads weights).
void guard_cpu_convolutions();

}  // namespace kiln::runtime
