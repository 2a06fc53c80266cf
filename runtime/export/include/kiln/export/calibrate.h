// INT8 post-training calibration (TAO's INT8 export; docs/int8.md): per-tensor |x| histograms accumulated over the
// calibration batches, activation ranges (amax) chosen by TensorRT's EntropyCalibration2 (KL divergence), a
// percentile or the max, and the TensorRT calibration cache that carries scale = amax / 127 per tensor.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/networks/graph.h"

namespace kiln::runtime {

enum class CalibrationMethod {
  Entropy,     // TensorRT EntropyCalibration2: the threshold that minimises KL(P || Q) over 128..2048 bins
  Percentile,  // the p-th percentile of |x| (p configurable, default 99.99)
  Max,         // the exact max of |x|
};

const char* calibration_method_name(CalibrationMethod m);  // "entropy", "percentile", "max"
// "entropy" | "percentile" | "max"; anything else is a kiln::UsageError.
CalibrationMethod parse_calibration_method(const std::string& name);

constexpr float kInt8Max = 127.0f;         // symmetric INT8: scale = amax / 127
constexpr double kDefaultPercentile = 99.99;
// Smallest amax reported (for tensors that were always exactly 0, or never seen with any element): positive, so
// the scale (1e-8, export.h's kMinScale) is finite, non-zero and prints as 8 hex digits in the cache.
constexpr float kMinAmax = 127.0f * 1e-8f;
// TensorRT's histogram resolution: the Entropy search runs on 2048 bins spanning the observed |x| range.
constexpr int kCalibrationBins = 2048;

// Accumulates per-tensor statistics over any number of batches. Not thread-safe (run_graph calls the observer from
// one thread).
//
// Histogram layout (why results do not depend on batch order): each tensor keeps 16 × 2048 = 32768 fine bins of
// |x| over [0, R) where R is the smallest power of two above the largest |x| seen so far. A batch with a larger |x|
// doubles R (as often as needed) by merging neighbouring bin pairs. Because R and the bin width are powers of two,
// bin(x) = floor(|x| · 2^k) is exact in floating point and merging pairs is exactly floor(bin / 2), so the final
// histogram is identical whatever the order of the batches. For the Entropy search the fine bins are summed in
// groups of g (9..16) into TensorRT's 2048 bins over [0, ≥ max|x|) — the analysis bins are at most 12.5 % wider
// than max/2048. Exact zeros (ReLU outputs) are counted separately: they quantize exactly at every threshold.
class Calibrator {
 public:
  using Method = CalibrationMethod;
  static constexpr const char* kInputTensor = "input";  // the name observe_input records the graph input under

  // Adds one batch of `tensor`'s values (any shape, any floating dtype, any device; copied to float32 CPU).
  // Throws kiln::Error naming the tensor for a non-floating dtype or non-finite values (NaN/Inf).
  void observe(const std::string& tensor, const at::Tensor& value);
  void observe_input(const at::Tensor& input) { observe(kInputTensor, input); }

  // A kiln::networks::NodeObserver for run_graph that records every node's output under Node::name. It refers to
  // this Calibrator, which must outlive it. The graph input is not a node: record it with observe_input.
  networks::NodeObserver observer();

  // amax per observed tensor (always ≥ kMinAmax, never above the tensor's max |x|), in name order.
  // `percentile` (0, 100] is used by Method::Percentile only; outside that range it is a kiln::UsageError.
  std::map<std::string, float> amax(Method m, double percentile = kDefaultPercentile) const;

  struct Summary {
    int64_t batches = 0;  // observe() calls
    int64_t count = 0;    // elements seen
    int64_t zeros = 0;    // elements exactly 0
    float max_abs = 0;    // max |x|
  };
  Summary summary(const std::string& tensor) const;  // throws kiln::Error for a tensor never observed
  std::vector<std::string> tensors() const;          // observed tensors, in name order
  bool empty() const { return stats_.empty(); }

 private:
  struct Stats {
    Summary summary;
    int range_exp = 0;          // the fine histogram covers [0, 2^range_exp)
    std::vector<int64_t> fine;  // 32768 counts (zeros included in bin 0); empty until a non-zero value arrives
  };
  std::map<std::string, Stats> stats_;
};

// amax → TensorRT scale (amax / 127) for every entry.
std::map<std::string, float> scales_from_amax(const std::map<std::string, float>& amax);

// ---- TensorRT calibration cache ---------------------------------------------------------------------------------
// Line 1: `TRT-<version>-EntropyCalibration2` (version = NV_TENSORRT_VERSION: 8.6.1 → 8601, 10.3.0 → 100300).
// Then per tensor, in name order: `<tensor>: <hex>` where <hex> is the float32 scale's IEEE-754 bit pattern as an
// unsigned integer in lower-case hex without 0x and without zero padding (as TensorRT and TAO write it): 1.0f →
// `3f800000`, 1/127 → `3c010204`, 0 → `0`. Every line ends in '\n'.

std::string trt_scale_hex(float scale);          // 1.0f → "3f800000"
float parse_trt_scale_hex(const std::string& hex);  // 1..8 hex digits; throws kiln::Error otherwise

// The cache text. Throws kiln::UsageError for a version that is not all digits, kiln::Error naming the tensor for
// an empty name, a name with a line break, or a scale that is negative, NaN or infinite (0 is allowed).
std::string format_trt_cache(const std::map<std::string, float>& scales, const std::string& trt_version = "8601");
// Writes format_trt_cache(...) to `path` atomically (a previous file stays untouched on failure).
void write_trt_cache(const std::string& path, const std::map<std::string, float>& scales,
                     const std::string& trt_version = "8601");

struct TrtCalibrationCache {
  std::string version;     // "8601"
  std::string calibrator;  // "EntropyCalibration2"
  std::map<std::string, float> scales;
};
// Parses a cache (any calibrator name in the header; blank lines and '\r' line ends tolerated). Throws
// kiln::DataError "<path>:<line>: <what>" for a bad header, a line without ": ", a bad hex value, a negative or
// non-finite scale or a repeated tensor, and naming the file when it cannot be read or is empty.
TrtCalibrationCache read_trt_cache(const std::string& path);

}  // namespace kiln::runtime
