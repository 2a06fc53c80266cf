// INT8 calibration (runtime/export/src/calibrate.cpp): amax methods on synthetic data, histogram rebinning,
// the TensorRT calibration cache format and its parser.
#include "kiln/export/calibrate.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/arange.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/masked_select.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/randperm.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/zeros.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <vector>
#include <limits>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/networks/graph.h"

namespace fs = std::filesystem;
using kiln::runtime::Calibrator;
using Method = kiln::runtime::CalibrationMethod;

namespace {

struct TempDir {
  fs::path path;
  TempDir()
      : path(fs::temp_directory_path() / ("kiln_calib_" + std::to_string(::getpid()) + "_" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

at::Generator gen(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

at::Tensor gaussian(int64_t n, at::Generator& g, double sigma = 1.0) { return at::randn({n}, g) * sigma; }

// Uniform on [-hi, hi).
at::Tensor uniform(int64_t n, at::Generator& g, double hi = 1.0) { return (at::rand({n}, g) * 2 - 1) * hi; }

std::string expect_data_error(const std::string& path) {
  try {
    kiln::runtime::read_trt_cache(path);
  } catch (const kiln::DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError for " << path;
  return "";
}

}  // namespace

// ---- amax methods -----------------------------------------------------------------------------------------------

TEST(Calibrate, MaxIsTheExactMaxOverAllBatches) {
  auto g = gen(1);
  Calibrator c;
  at::Tensor a = gaussian(10000, g);
  a[17] = -7.25f;  // the largest |x|, negative
  c.observe("t", a);
  c.observe("t", gaussian(10000, g) * 0.5);
  const auto amax = c.amax(Method::Max);
  ASSERT_EQ(amax.size(), 1u);
  EXPECT_EQ(amax.at("t"), 7.25f);
  const auto s = c.summary("t");
  EXPECT_EQ(s.batches, 2);
  EXPECT_EQ(s.count, 20000);
  EXPECT_EQ(s.max_abs, 7.25f);
}

TEST(Calibrate, PercentileOfAKnownDistribution) {
  // |x| takes the values k/100000, k = 1..100000, each once (signs alternate): the p-th percentile is p/100.
  at::Tensor v = at::arange(1, 100001, at::kFloat) / 100000.0;
  v.slice(0, 0, 100000, 2).neg_();
  auto g = gen(2);
  v = v.index_select(0, at::randperm(100000, g));
  Calibrator c;
  c.observe("u", v.slice(0, 0, 30000));
  c.observe("u", v.slice(0, 30000));
  for (double p : {50.0, 90.0, 99.0, 99.9, 99.99}) {
    EXPECT_NEAR(c.amax(Method::Percentile, p).at("u"), p / 100.0, 2e-4) << "p=" << p;
  }
  EXPECT_EQ(c.amax(Method::Percentile, 100.0).at("u"), c.amax(Method::Max).at("u"));
  EXPECT_NEAR(c.amax(Method::Percentile).at("u"), 0.9999, 2e-4);  // default 99.99

  // Gaussian: the 99.99th percentile of |x| for N(0, σ²) is 3.8906 σ.
  Calibrator n;
  for (int b = 0; b < 20; ++b) n.observe("g", gaussian(100000, g, 2.0));
  EXPECT_NEAR(n.amax(Method::Percentile).at("g"), 3.8906 * 2.0, 0.15);
  EXPECT_NEAR(n.amax(Method::Percentile, 95.0).at("g"), 1.95996 * 2.0, 0.02);

  EXPECT_THROW(c.amax(Method::Percentile, 0.0), kiln::UsageError);
  EXPECT_THROW(c.amax(Method::Percentile, 100.5), kiln::UsageError);
}

TEST(Calibrate, EntropyOnGaussianData) {
  auto g = gen(3);
  Calibrator c;
  for (int b = 0; b < 10; ++b) c.observe("g", gaussian(100000, g));
  const float amax = c.amax(Method::Entropy).at("g");
  const float mx = c.amax(Method::Max).at("g");
  // 1e6 samples of N(0, 1): max ≈ 5σ. For a pure Gaussian the KL optimum clips only the sparse tail (the quantization
  // noise of 128 levels over ±5σ is small), so the threshold sits a little inside the max.
  EXPECT_GT(mx, 4.5f);
  EXPECT_LT(amax, 0.98f * mx);
  EXPECT_GT(amax, 3.5f);
}

TEST(Calibrate, EntropyClipsOutliers) {
  // The same Gaussian plus a handful of far outliers (as a few saturated activations): Max follows the outliers, the
  // Entropy threshold stays with the bulk of the data.
  auto g = gen(3);
  Calibrator c;
  for (int b = 0; b < 10; ++b) {
    at::Tensor x = gaussian(100000, g);
    x[b] = b % 2 ? 20.0f : -18.0f;
    c.observe("g", x);
  }
  const float amax = c.amax(Method::Entropy).at("g");
  const float mx = c.amax(Method::Max).at("g");
  EXPECT_EQ(mx, 20.0f);
  EXPECT_LT(amax, 0.3f * mx);
  EXPECT_GT(amax, 3.0f);
  // Percentile also ignores them; it is set by the fraction, not by a divergence.
  EXPECT_LT(c.amax(Method::Percentile).at("g"), 5.0f);
}

TEST(Calibrate, EntropyMatchesAReferenceImplementation) {
  // A histogram known bin by bin: coarse bin j (width 2^-9 over [0, 4)) holds floor(2000 · exp(−(j/300)²/2)) values
  // placed at the centre of fine bin 16j + 8, plus 3 outliers in the last bin (so the 2048 analysis bins are exactly
  // 16 fine bins each). An independent Python port of pytorch-quantization's _compute_amax_entropy (np.digitize
  // levels, Q from the unfolded bins, KL = inf where P > 0 = Q, last argmin; without its bins[0] = bins[1] tweak)
  // picks i = 1170 on this histogram (KL 4.34e-5; runner-up 1169 at 4.55e-5): amax = (1170 + 0.5) / 512.
  std::vector<float> values;
  for (int j = 0; j < kiln::runtime::kCalibrationBins; ++j) {
    int count = static_cast<int>(std::floor(2000.0 * std::exp(-0.5 * (j / 300.0) * (j / 300.0))));
    if (j == kiln::runtime::kCalibrationBins - 1) count += 3;
    const float v = static_cast<float>(std::ldexp(16.0 * j + 8.5, -13));
    for (int k = 0; k < count; ++k) values.push_back(k % 2 ? v : -v);
  }
  ASSERT_EQ(values.size(), 752345u);
  Calibrator c;
  c.observe("h", at::from_blob(values.data(), {static_cast<int64_t>(values.size())}, at::kFloat));
  EXPECT_EQ(c.amax(Method::Entropy).at("h"), 2.2861328125f);
}

TEST(Calibrate, EntropyKeepsTheRangeOfUniformData) {
  auto g = gen(4);
  Calibrator c;
  for (int b = 0; b < 10; ++b) c.observe("u", uniform(100000, g, 3.0));
  const float amax = c.amax(Method::Entropy).at("u");
  const float mx = c.amax(Method::Max).at("u");
  EXPECT_GT(amax, 0.98f * mx);
  EXPECT_LE(amax, mx);  // never above the observed max
}

TEST(Calibrate, EntropyIgnoresExactZeros) {
  // ReLU outputs: half the values are exact zeros, which quantize exactly at any threshold and so must not pull the
  // threshold (they stay out of the KL histogram, but count for Percentile).
  auto g = gen(5);
  at::Tensor x = at::relu(gaussian(200000, g));
  Calibrator with_zeros, without;
  with_zeros.observe("r", x);
  without.observe("r", at::masked_select(x, x.gt(0)));
  EXPECT_EQ(with_zeros.amax(Method::Entropy).at("r"), without.amax(Method::Entropy).at("r"));
  EXPECT_EQ(with_zeros.amax(Method::Max).at("r"), without.amax(Method::Max).at("r"));
  EXPECT_GT(with_zeros.summary("r").zeros, 90000);
  // Percentile counts the zeros: the 50th percentile of |relu(N(0,1))| is (about) 0.
  EXPECT_LT(with_zeros.amax(Method::Percentile, 49.0).at("r"), 1e-5f);
  EXPECT_NEAR(with_zeros.amax(Method::Percentile, 75.0).at("r"), 0.6745, 0.02);
}

// ---- histogram range adaptation ---------------------------------------------------------------------------------

TEST(Calibrate, RebinningMakesResultsIndependentOfBatchOrder) {
  auto g = gen(6);
  std::vector<at::Tensor> batches;
  batches.push_back(gaussian(50000, g, 0.01));   // tiny range first …
  batches.push_back(gaussian(50000, g, 0.3));
  batches.push_back(uniform(50000, g, 0.05));
  batches.push_back(gaussian(50000, g, 40.0));  // … then a batch whose max is ~2^12 × the first's
  batches.push_back(at::zeros({1000}));
  batches.push_back(gaussian(50000, g, 2.0));

  Calibrator small_first, large_first, one_batch;
  for (const auto& b : batches) small_first.observe("x", b);
  for (auto it = batches.rbegin(); it != batches.rend(); ++it) large_first.observe("x", *it);
  one_batch.observe("x", at::cat(batches));

  for (Method m : {Method::Entropy, Method::Percentile, Method::Max}) {
    const float a = small_first.amax(m).at("x");
    const float b = large_first.amax(m).at("x");
    const float c = one_batch.amax(m).at("x");
    // The power-of-two histogram makes this exact; the documented promise is "within tolerance".
    EXPECT_NEAR(a, b, 1e-6f * b) << kiln::runtime::calibration_method_name(m);
    EXPECT_NEAR(a, c, 1e-6f * c) << kiln::runtime::calibration_method_name(m);
    EXPECT_EQ(a, b) << kiln::runtime::calibration_method_name(m);
  }
  EXPECT_EQ(small_first.summary("x").count, large_first.summary("x").count);
  EXPECT_EQ(small_first.summary("x").zeros, large_first.summary("x").zeros);
}

TEST(Calibrate, GrowingRangeEveryBatch) {
  // Each batch doubles the max: the histogram is rebinned on every observe().
  auto g = gen(7);
  Calibrator grow, shrink;
  std::vector<at::Tensor> batches;
  for (int k = 0; k < 12; ++k) batches.push_back(gaussian(20000, g, std::ldexp(1.0, k - 4)));
  for (const auto& b : batches) grow.observe("x", b);
  for (auto it = batches.rbegin(); it != batches.rend(); ++it) shrink.observe("x", *it);
  for (Method m : {Method::Entropy, Method::Percentile, Method::Max}) {
    EXPECT_EQ(grow.amax(m).at("x"), shrink.amax(m).at("x")) << kiln::runtime::calibration_method_name(m);
  }
}

// ---- degenerate tensors -----------------------------------------------------------------------------------------

TEST(Calibrate, AllZeroTensorGetsATinyPositiveAmax) {
  Calibrator c;
  c.observe("z", at::zeros({4, 8, 3, 3}));
  c.observe("z", at::zeros({4, 8, 3, 3}));
  c.observe("empty", at::zeros({0}));
  for (Method m : {Method::Entropy, Method::Percentile, Method::Max}) {
    const auto amax = c.amax(m);
    for (const char* name : {"z", "empty"}) {
      const float a = amax.at(name);
      EXPECT_EQ(a, kiln::runtime::kMinAmax) << name;
      const float scale = kiln::runtime::scales_from_amax(amax).at(name);
      EXPECT_TRUE(std::isfinite(scale) && scale > 0) << name;
      EXPECT_EQ(kiln::runtime::trt_scale_hex(scale).size(), 8u);
    }
  }
  EXPECT_EQ(c.summary("z").zeros, 2 * 4 * 8 * 9);
}

TEST(Calibrate, ZerosBeforeTheFirstNonZeroBatchAreKept) {
  auto g = gen(8);
  at::Tensor x = gaussian(10000, g);
  Calibrator a, b;
  a.observe("x", at::zeros({5000}));
  a.observe("x", x);
  b.observe("x", x);
  b.observe("x", at::zeros({5000}));
  for (Method m : {Method::Entropy, Method::Percentile, Method::Max}) EXPECT_EQ(a.amax(m), b.amax(m));
  EXPECT_EQ(a.amax(Method::Percentile, 30.0).at("x"), kiln::runtime::kMinAmax);  // a third of the values are 0
}

TEST(Calibrate, RejectsNonFiniteAndNonFloatingTensors) {
  Calibrator c;
  at::Tensor bad = at::zeros({10});
  bad[3] = std::numeric_limits<float>::quiet_NaN();
  bad[4] = std::numeric_limits<float>::infinity();
  try {
    c.observe("conv1", bad);
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'conv1' has 2 non-finite values (of 10) in batch 1"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(c.empty());  // nothing was recorded
  EXPECT_THROW(c.observe("ids", at::arange(5)), kiln::Error);
  EXPECT_THROW(c.summary("nope"), kiln::Error);
}

TEST(Calibrate, AcceptsOtherFloatingDtypes) {
  Calibrator c;
  c.observe("d", at::arange(-4, 5, at::kDouble) / 4);
  c.observe("h", (at::arange(-4, 5, at::kFloat) / 4).to(at::kHalf));
  EXPECT_EQ(c.amax(Method::Max).at("d"), 1.0f);
  EXPECT_EQ(c.amax(Method::Max).at("h"), 1.0f);
}

TEST(Calibrate, ObserverRecordsByNodeNameAndInput) {
  Calibrator c;
  kiln::networks::NodeObserver obs = c.observer();
  kiln::networks::Node conv;
  conv.op = kiln::networks::Op::Conv;
  conv.name = "block1/conv";
  kiln::networks::Node relu;
  relu.name = "block1/relu";
  obs(conv, at::arange(-3, 3, at::kFloat));
  obs(relu, at::arange(0, 3, at::kFloat));
  obs(conv, at::arange(-5, 1, at::kFloat));
  c.observe_input(at::arange(0, 2, at::kFloat));
  EXPECT_EQ(c.tensors(), (std::vector<std::string>{"block1/conv", "block1/relu", "input"}));
  EXPECT_EQ(c.summary("block1/conv").batches, 2);
  EXPECT_EQ(c.amax(Method::Max).at("block1/conv"), 5.0f);
  EXPECT_EQ(c.amax(Method::Max).at(Calibrator::kInputTensor), 1.0f);
}

TEST(Calibrate, MethodNames) {
  for (Method m : {Method::Entropy, Method::Percentile, Method::Max}) {
    EXPECT_EQ(kiln::runtime::parse_calibration_method(kiln::runtime::calibration_method_name(m)), m);
  }
  EXPECT_THROW(kiln::runtime::parse_calibration_method("kl"), kiln::UsageError);
}

// ---- TensorRT calibration cache ---------------------------------------------------------------------------------

TEST(TrtCache, HexOfKnownFloats) {
  using kiln::runtime::trt_scale_hex;
  EXPECT_EQ(trt_scale_hex(1.0f), "3f800000");
  EXPECT_EQ(trt_scale_hex(1.0f / 127.0f), "3c010204");  // amax 1.0: scale 1/127, the float's bits in hex (TensorRT's cache)
  EXPECT_EQ(trt_scale_hex(2.0f), "40000000");
  EXPECT_EQ(trt_scale_hex(0.0078f), "3bff9724");
  EXPECT_EQ(trt_scale_hex(0.0f), "0");  // no zero padding, as TensorRT/TAO print it
  EXPECT_EQ(trt_scale_hex(1e-40f).size(), 5u);  // subnormal: fewer than 8 digits
  // A value seen in TensorRT caches of [-1, 1] inputs: amax 1.000244 → 3c010a14.
  EXPECT_FLOAT_EQ(kiln::runtime::parse_trt_scale_hex("3c010a14") * 127.0f, 1.00024414f);
  EXPECT_EQ(kiln::runtime::parse_trt_scale_hex("3F800000"), 1.0f);
  EXPECT_EQ(kiln::runtime::parse_trt_scale_hex("0"), 0.0f);
  EXPECT_THROW(kiln::runtime::parse_trt_scale_hex("3f8000000"), kiln::Error);
  EXPECT_THROW(kiln::runtime::parse_trt_scale_hex("0x3f80"), kiln::Error);
  EXPECT_THROW(kiln::runtime::parse_trt_scale_hex(""), kiln::Error);
}

TEST(TrtCache, FormatIsTensorRTs) {
  const std::map<std::string, float> scales{
      {"input", 1.0f / 127.0f}, {"conv1", 1.0f}, {"output_bbox/BiasAdd:0", 2.0f}, {"dead", 0.0f}};
  EXPECT_EQ(kiln::runtime::format_trt_cache(scales),
            "TRT-8601-EntropyCalibration2\n"
            "conv1: 3f800000\n"
            "dead: 0\n"
            "input: 3c010204\n"
            "output_bbox/BiasAdd:0: 40000000\n");
  EXPECT_EQ(kiln::runtime::format_trt_cache({}, "100300"), "TRT-100300-EntropyCalibration2\n");
  EXPECT_THROW(kiln::runtime::format_trt_cache({}, "8.6.1"), kiln::UsageError);
  EXPECT_THROW(kiln::runtime::format_trt_cache({{"a", -1.0f}}), kiln::Error);
  EXPECT_THROW(kiln::runtime::format_trt_cache({{"a", std::nanf("")}}), kiln::Error);
  EXPECT_THROW(kiln::runtime::format_trt_cache({{"a\nb", 1.0f}}), kiln::Error);
  EXPECT_THROW(kiln::runtime::format_trt_cache({{"", 1.0f}}), kiln::Error);
}

TEST(TrtCache, RoundTrip) {
  TempDir dir;
  auto g = gen(9);
  Calibrator c;
  for (int b = 0; b < 3; ++b) {
    c.observe_input(uniform(1000, g));
    c.observe("conv1", gaussian(1000, g, 3.0));
    c.observe("relu1:0", at::relu(gaussian(1000, g)));
    c.observe("zero", at::zeros({10}));
  }
  const auto scales = kiln::runtime::scales_from_amax(c.amax(Method::Entropy));
  const std::string path = (dir.path / "cal.bin").string();
  kiln::runtime::write_trt_cache(path, scales);
  const auto cache = kiln::runtime::read_trt_cache(path);
  EXPECT_EQ(cache.version, "8601");
  EXPECT_EQ(cache.calibrator, "EntropyCalibration2");
  EXPECT_EQ(cache.scales, scales);  // bit-exact
  EXPECT_EQ(kiln::read_file(path), kiln::runtime::format_trt_cache(scales));

  // Overwriting is atomic and leaves no temp file behind.
  kiln::runtime::write_trt_cache(path, {{"only", 1.0f}}, "100300");
  const auto again = kiln::runtime::read_trt_cache(path);
  EXPECT_EQ(again.version, "100300");
  EXPECT_EQ(again.scales, (std::map<std::string, float>{{"only", 1.0f}}));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(TrtCache, ReadsForeignCaches) {
  TempDir dir;
  const std::string path = (dir.path / "trt.cache").string();
  kiln::atomic_write_string(path,
                            "TRT-8400-MinMaxCalibration\r\n"
                            "input_1:0: 3c010a14\r\n"
                            "\r\n"
                            "conv/BiasAdd: 3D8C0000\r\n"
                            "dead: 0");  // no final newline
  const auto cache = kiln::runtime::read_trt_cache(path);
  EXPECT_EQ(cache.version, "8400");
  EXPECT_EQ(cache.calibrator, "MinMaxCalibration");
  ASSERT_EQ(cache.scales.size(), 3u);
  EXPECT_FLOAT_EQ(cache.scales.at("input_1:0") * 127.0f, 1.00024414f);
  EXPECT_EQ(cache.scales.at("conv/BiasAdd"), 0.068359375f);
  EXPECT_EQ(cache.scales.at("dead"), 0.0f);
}

TEST(TrtCache, MalformedLinesNameFileAndLine) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string p = (dir.path / name).string();
    kiln::atomic_write_string(p, text);
    return p;
  };
  const std::string hdr = "TRT-8601-EntropyCalibration2\n";

  std::string p = write("noseparator", hdr + "a: 3f800000\nb 3f800000\n");
  std::string msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":3: expected '<tensor>: <hex scale>', got 'b 3f800000'"), std::string::npos) << msg;

  p = write("badhex", hdr + "a: 3f80zz00\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":2: tensor 'a': expected 1 to 8 hex digits, got '3f80zz00'"), std::string::npos) << msg;

  p = write("toolong", hdr + "\na: 3f8000000\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":3: "), std::string::npos) << msg;

  p = write("negative", hdr + "a: bf800000\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":2: tensor 'a': invalid scale"), std::string::npos) << msg;

  p = write("nan", hdr + "a: 7fc00000\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":2: tensor 'a': invalid scale"), std::string::npos) << msg;

  p = write("dup", hdr + "a: 3f800000\nb: 3f800000\na: 40000000\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":4: tensor 'a' repeated (first on line 2)"), std::string::npos) << msg;

  p = write("header", "TRT-8.6-EntropyCalibration2\na: 3f800000\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":1: expected a 'TRT-<version>-<calibrator>' header"), std::string::npos) << msg;

  p = write("noname", hdr + ": 3f800000\n");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ":2: "), std::string::npos) << msg;

  p = write("empty", "");
  msg = expect_data_error(p);
  EXPECT_NE(msg.find(p + ": empty calibration cache"), std::string::npos) << msg;

  msg = expect_data_error((dir.path / "missing").string());
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}
