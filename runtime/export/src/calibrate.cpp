// INT8 calibration: histograms, amax selection (Entropy / Percentile / Max) and the TensorRT calibration cache.
// The algorithm and its relation to TensorRT are described in docs/int8.md.
#include "kiln/export/calibrate.h"

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <algorithm>
#include <cctype>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"

namespace kiln::runtime {
namespace {

constexpr int kFineLog2 = 15;  // 32768 fine bins = 16 × kCalibrationBins
constexpr int64_t kFineBins = int64_t{1} << kFineLog2;
static_assert(kFineBins % kCalibrationBins == 0, "fine bins must group into TensorRT's bins");
constexpr int kQuantLevels = 128;   // INT8 magnitudes 0..127: TensorRT quantizes P into 128 levels
constexpr int kFirstCandidate = 128;  // the smallest threshold bin TensorRT tries

// Width of one fine bin when the histogram covers [0, 2^range_exp).
double fine_width(int range_exp) { return std::ldexp(1.0, range_exp - kFineLog2); }

// Index of |x|'s fine bin: floor(|x| · 2^(15 − range_exp)), exact because the factor is a power of two.
int64_t fine_bin(float abs_x, double inv_width) {
  auto idx = static_cast<int64_t>(static_cast<double>(abs_x) * inv_width);
  return std::min(idx, kFineBins - 1);
}

// Doubles the range `times` times: bin j of the new histogram is bins 2j and 2j+1 of the old one.
void double_range(std::vector<int64_t>& fine, int times) {
  for (int t = 0; t < times; ++t) {
    for (int64_t j = 0; j < kFineBins / 2; ++j) fine[j] = fine[2 * j] + fine[2 * j + 1];
    std::fill(fine.begin() + kFineBins / 2, fine.end(), 0);
    if (fine[0] != 0 && std::all_of(fine.begin() + 1, fine.end(), [](int64_t c) { return c == 0; })) {
      break;  // everything is in bin 0 already; further merges change nothing
    }
  }
}

float finish(double amax, float max_abs) {
  double a = std::min(amax, static_cast<double>(max_abs));
  if (!(a >= kMinAmax)) a = kMinAmax;  // also catches NaN
  return static_cast<float>(a);
}

// TensorRT EntropyCalibration2 on 2048 bins of width `width` (exact zeros already removed from bin 0).
// For every candidate i in [128, 2048]: P = hist[0:i] with the outliers hist[i:] added to P[i−1]; Q = hist[0:i]
// merged into 128 levels (bin j → level ⌊j·128/i⌋) and expanded back, each level's count spread evenly over its
// non-empty bins (empty bins stay 0); both normalised; KL(P‖Q) = Σ P log(P/Q), infinite when P > 0 = Q. The minimum
// wins, the larger i on ties; amax = (i + 0.5) · width.
double entropy_amax(const std::vector<double>& hist, double width) {
  const int n = static_cast<int>(hist.size());
  std::vector<double> suffix(n + 1, 0.0);
  for (int j = n - 1; j >= 0; --j) suffix[j] = suffix[j + 1] + hist[j];
  const double total = suffix[0];
  if (total <= 0) return 0;

  std::vector<double> level_sum(kQuantLevels);
  std::vector<int> level_nonzero(kQuantLevels);
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = n;
  for (int i = kFirstCandidate; i <= n; ++i) {
    const double outliers = suffix[i];
    const double q_total = total - outliers;
    if (q_total <= 0) continue;  // everything would be clipped: Q is empty
    std::fill(level_sum.begin(), level_sum.end(), 0.0);
    std::fill(level_nonzero.begin(), level_nonzero.end(), 0);
    for (int j = 0; j < i; ++j) {
      if (hist[j] > 0) {
        const int l = static_cast<int>(static_cast<int64_t>(j) * kQuantLevels / i);
        level_sum[l] += hist[j];
        ++level_nonzero[l];
      }
    }
    double kl = 0;
    for (int j = 0; j < i; ++j) {
      const double p = hist[j] + (j == i - 1 ? outliers : 0.0);
      if (p <= 0) continue;
      if (hist[j] <= 0) {  // P > 0 where Q = 0: the outliers fell into an empty last bin
        kl = std::numeric_limits<double>::infinity();
        break;
      }
      const int l = static_cast<int>(static_cast<int64_t>(j) * kQuantLevels / i);
      const double q = level_sum[l] / level_nonzero[l];
      const double pn = p / total, qn = q / q_total;
      kl += pn * std::log(pn / qn);
    }
    if (kl <= best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return (best_i + 0.5) * width;
}

std::string shorten(const std::string& s) {
  constexpr size_t kMax = 80;
  return s.size() <= kMax ? s : s.substr(0, kMax) + "...";
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

const char* calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::Entropy: return "entropy";
    case CalibrationMethod::Percentile: return "percentile";
    case CalibrationMethod::Max: return "max";
  }
  return "?";
}

CalibrationMethod parse_calibration_method(const std::string& name) {
  for (auto m : {CalibrationMethod::Entropy, CalibrationMethod::Percentile, CalibrationMethod::Max}) {
    if (name == calibration_method_name(m)) return m;
  }
  throw UsageError("unknown calibration method '" + name + "' (expected entropy, percentile or max)");
}

// ---- Calibrator -------------------------------------------------------------------------------------------------

void Calibrator::observe(const std::string& tensor, const at::Tensor& value) {
  if (!value.defined()) throw Error("calibration: tensor '" + tensor + "' is undefined");
  if (!c10::isFloatingType(value.scalar_type())) {
    throw Error("calibration: tensor '" + tensor + "' has non-floating dtype " +
                std::string(c10::toString(value.scalar_type())));
  }
  const at::Tensor t = value.detach().to(c10::kCPU, c10::kFloat).contiguous();
  const float* data = t.data_ptr<float>();
  const int64_t n = t.numel();

  // Pass 1: max |x|, zeros, and the finiteness check — before anything is accumulated.
  float batch_max = 0;
  int64_t zeros = 0, non_finite = 0;
  for (int64_t k = 0; k < n; ++k) {
    const float a = std::fabs(data[k]);
    if (!std::isfinite(a)) {
      ++non_finite;
    } else {
      if (a == 0) ++zeros;
      batch_max = std::max(batch_max, a);
    }
  }
  if (non_finite > 0) {
    auto it = stats_.find(tensor);
    const int64_t batch = (it == stats_.end() ? 0 : it->second.summary.batches) + 1;
    throw Error("calibration: tensor '" + tensor + "' has " + std::to_string(non_finite) + " non-finite values (of " +
                std::to_string(n) + ") in batch " + std::to_string(batch));
  }
  Stats& s = stats_[tensor];
  s.summary.batches += 1;
  s.summary.count += n;
  s.summary.zeros += zeros;
  s.summary.max_abs = std::max(s.summary.max_abs, batch_max);
  if (batch_max == 0) {
    if (!s.fine.empty()) s.fine[0] += zeros;
    return;  // nothing but zeros: nothing to place yet (zeros go to bin 0 once a histogram exists)
  }

  // The smallest power of two strictly above batch_max: batch_max = f · 2^e with f in [0.5, 1).
  int e = 0;
  std::frexp(batch_max, &e);
  if (s.fine.empty()) {
    s.fine.assign(kFineBins, 0);
    s.range_exp = e;
    // Zeros seen in earlier all-zero batches.
    s.fine[0] += s.summary.zeros - zeros;
  } else if (e > s.range_exp) {
    double_range(s.fine, e - s.range_exp);
    s.range_exp = e;
  }

  // Pass 2: place every |x|.
  const double inv_width = 1.0 / fine_width(s.range_exp);
  for (int64_t k = 0; k < n; ++k) ++s.fine[fine_bin(std::fabs(data[k]), inv_width)];
}

networks::NodeObserver Calibrator::observer() {
  return [this](const networks::Node& node, const at::Tensor& output) { observe(node.name, output); };
}

std::map<std::string, float> Calibrator::amax(Method m, double percentile) const {
  if (m == Method::Percentile && !(percentile > 0 && percentile <= 100)) {
    throw UsageError("calibration percentile must be in (0, 100], got " + std::to_string(percentile));
  }
  std::map<std::string, float> out;
  for (const auto& [name, s] : stats_) {
    const float max_abs = s.summary.max_abs;
    if (s.fine.empty() || max_abs == 0) {  // only zeros (or nothing) seen
      out[name] = kMinAmax;
      continue;
    }
    const double w_fine = fine_width(s.range_exp);
    double a = max_abs;
    switch (m) {
      case Method::Max: break;
      case Method::Percentile: {
        // Zeros are a point mass at 0; the other counts of a bin are spread evenly over it (linear interpolation).
        const double target = percentile / 100.0 * static_cast<double>(s.summary.count);
        double cum = static_cast<double>(s.summary.zeros);
        if (cum >= target) {
          a = 0;
          break;
        }
        for (int64_t k = 0; k < kFineBins; ++k) {
          const double c = static_cast<double>(k == 0 ? s.fine[0] - s.summary.zeros : s.fine[k]);
          if (c > 0 && cum + c >= target) {
            a = (static_cast<double>(k) + (target - cum) / c) * w_fine;
            break;
          }
          cum += c;
        }
        break;
      }
      case Method::Entropy: {
        // Group the fine bins into TensorRT's 2048 bins spanning [0, ≥ max_abs).
        const int64_t used = fine_bin(max_abs, 1.0 / w_fine) + 1;  // fine bins up to max_abs's
        const int64_t group = (used + kCalibrationBins - 1) / kCalibrationBins;
        std::vector<double> hist(kCalibrationBins, 0.0);
        for (int64_t k = 0; k < std::min(kFineBins, group * kCalibrationBins); ++k) {
          hist[k / group] += static_cast<double>(s.fine[k]);
        }
        hist[0] -= static_cast<double>(s.summary.zeros);  // exact zeros quantize exactly at any threshold
        a = entropy_amax(hist, static_cast<double>(group) * w_fine);
        break;
      }
    }
    out[name] = finish(a, max_abs);
  }
  return out;
}

Calibrator::Summary Calibrator::summary(const std::string& tensor) const {
  auto it = stats_.find(tensor);
  if (it == stats_.end()) throw Error("calibration: tensor '" + tensor + "' was never observed");
  return it->second.summary;
}

std::vector<std::string> Calibrator::tensors() const {
  std::vector<std::string> names;
  names.reserve(stats_.size());
  for (const auto& entry : stats_) names.push_back(entry.first);
  return names;
}

std::map<std::string, float> scales_from_amax(const std::map<std::string, float>& amax) {
  std::map<std::string, float> scales;
  for (const auto& [name, a] : amax) scales[name] = a / kInt8Max;
  return scales;
}

// ---- TensorRT calibration cache ---------------------------------------------------------------------------------

std::string trt_scale_hex(float scale) {
  uint32_t bits = 0;
  std::memcpy(&bits, &scale, sizeof bits);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%" PRIx32, bits);
  return buf;
}

float parse_trt_scale_hex(const std::string& hex) {
  if (hex.empty() || hex.size() > 8 || !std::all_of(hex.begin(), hex.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      })) {
    throw Error("expected 1 to 8 hex digits, got '" + shorten(hex) + "'");
  }
  const auto bits = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
  float f = 0;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

std::string format_trt_cache(const std::map<std::string, float>& scales, const std::string& trt_version) {
  if (!all_digits(trt_version)) {
    throw UsageError("TensorRT version must be NV_TENSORRT_VERSION digits (e.g. 8601), got '" + trt_version + "'");
  }
  std::string text = "TRT-" + trt_version + "-EntropyCalibration2\n";
  for (const auto& [name, scale] : scales) {
    if (name.empty() || name.find_first_of("\r\n") != std::string::npos) {
      throw Error("calibration cache: invalid tensor name '" + shorten(name) + "'");
    }
    if (!std::isfinite(scale) || scale < 0) {
      throw Error("calibration cache: tensor '" + name + "' has invalid scale " + std::to_string(scale));
    }
    text += name + ": " + trt_scale_hex(scale == 0 ? 0.0f : scale) + "\n";  // -0 → 0
  }
  return text;
}

void write_trt_cache(const std::string& path, const std::map<std::string, float>& scales,
                     const std::string& trt_version) {
  atomic_write_string(path, format_trt_cache(scales, trt_version));
}

TrtCalibrationCache read_trt_cache(const std::string& path) {
  const std::string text = read_file(path);
  TrtCalibrationCache cache;
  std::map<std::string, int> seen_at;  // tensor → line
  int line_no = 0;
  bool header = false;
  size_t pos = 0;
  auto fail = [&](const std::string& what) { throw DataError(path + ":" + std::to_string(line_no) + ": " + what); };
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!header) {
      // TRT-<digits>-<calibrator>
      const size_t dash = line.find('-', 4);
      if (line.compare(0, 4, "TRT-") != 0 || dash == std::string::npos ||
          !all_digits(line.substr(4, dash - 4)) || dash + 1 >= line.size() ||
          !std::all_of(line.begin() + dash + 1, line.end(), [](char c) { return std::isalnum((unsigned char)c); })) {
        fail("expected a 'TRT-<version>-<calibrator>' header, got '" + shorten(line) + "'");
      }
      cache.version = line.substr(4, dash - 4);
      cache.calibrator = line.substr(dash + 1);
      header = true;
      continue;
    }
    if (line.empty()) continue;
    const size_t sep = line.rfind(": ");  // tensor names may contain ':' (e.g. "conv1:0")
    if (sep == std::string::npos || sep == 0) fail("expected '<tensor>: <hex scale>', got '" + shorten(line) + "'");
    const std::string name = line.substr(0, sep);
    float scale = 0;
    try {
      scale = parse_trt_scale_hex(line.substr(sep + 2));
    } catch (const Error& e) {
      fail("tensor '" + name + "': " + e.what());
    }
    if (!std::isfinite(scale) || std::signbit(scale)) {
      fail("tensor '" + name + "': invalid scale " + std::to_string(scale));
    }
    auto [it, inserted] = seen_at.emplace(name, line_no);
    if (!inserted) fail("tensor '" + name + "' repeated (first on line " + std::to_string(it->second) + ")");
    cache.scales[name] = scale;
  }
  if (!header) throw DataError(path + ": empty calibration cache (no 'TRT-<version>-<calibrator>' header)");
  return cache;
}

}  // namespace kiln::runtime
