// ONNX export: structure (checker, names, dynamic batch, BN folding, QDQ placement), numerics against LibTorch through
// onnxruntime (fp32, fp16, int8 QDQ) and failure behaviour (unwritable path, missing INT8 scale). onnxruntime comes
// from setup.sh (.deps/onnxruntime-node); without it these tests fail, they do not skip.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/networks/graph.h"
#include "kiln/networks/network.h"
#include "kiln/export/export.h"
#include "kiln/export/onnxruntime.h"
#include "support/bn_stats.h"

namespace fs = std::filesystem;
using kiln::networks::Architecture;
using kiln::networks::Graph;
using kiln::networks::Network;
using kiln::networks::Node;
using kiln::networks::Op;
using kiln::runtime::DataType;
using kiln::runtime::ExportOptions;

namespace {

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kiln-export-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> r;
    for (const auto& e : fs::directory_iterator(path_)) r.push_back(e.path().filename().string());
    return r;
  }

 private:
  std::string path_;
};

std::shared_ptr<Network> make(const std::string& arch_name, int n_layers = 18, int base_width = 64) {
  Architecture a;
  a.arch = arch_name;
  a.n_layers = n_layers;
  a.base_width = base_width;
  auto net = kiln::networks::create(a);
  // Non-trivial BN statistics and affine parameters, so that folding is really exercised.
  EXPECT_GT(kiln::test_support::randomise_batch_norms(*net, 11), 0);
  net->eval();
  return net;
}

at::Tensor forward(Network& net, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  return net.forward(x);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// INT8 activation scales as a calibrator computes them: amax/127 of every node output seen over `sample`, keyed by
// the node's ONNX tensor name (onnx_tensor_names), plus the network input.
std::map<std::string, float> observed_scales(Network& net, const at::Tensor& sample) {
  const Graph g = net.graph();
  const auto names = kiln::runtime::onnx_tensor_names(g);
  std::map<std::string, float> scales{{"input", sample.abs().max().item<float>() / 127.0f}};
  torch::NoGradGuard no_grad;
  kiln::networks::run_graph(g, net, sample, [&](const Node& node, const at::Tensor& y) {
    auto it = names.find(node.name);
    if (it != names.end()) scales[it->second] = std::max(scales[it->second], y.abs().max().item<float>() / 127.0f);
  });
  return scales;
}

// fp16 vs fp32 logits. float16 keeps 11 significant bits: every weight, the input and each intermediate tensor is
// rounded with a relative error up to u = 2^-11 ≈ 4.9e-4, and the errors add up through the 5 (LeNet5) to 53
// (MobileNetV2) weighted layers. 1% of the largest logit (≈ 20 u) is the budget, with 1e-3 absolute as a floor for
// nearly all-zero logits; the observed errors are 1e-4 or less (≈ 0.03-0.1% of the largest logit).
double fp16_tolerance(const at::Tensor& ref) { return std::max(1e-3, 1e-2 * ref.abs().max().item<double>()); }

double argmax_agreement(const at::Tensor& a, const at::Tensor& b) {
  return a.argmax(1).eq(b.argmax(1)).to(at::kDouble).mean().item<double>();
}

}  // namespace

TEST(OnnxRuntime, IsInstalled) {
  // setup.sh installs onnxruntime-node into .deps; every numeric check below depends on it.
  ASSERT_TRUE(kiln::runtime::onnxruntime_available()) << [] {
    try {
      return kiln::runtime::onnxruntime_version();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  }();
  EXPECT_FALSE(kiln::runtime::onnxruntime_version().empty());
}

TEST(OnnxRuntime, ReportsNodesErrorForABadModel) {
  TempDir dir;
  kiln::atomic_write_string(dir.file("bad.onnx"), "this is not an onnx model");
  try {
    kiln::runtime::run_onnxruntime(dir.file("bad.onnx"), at::zeros({1, 1, 4, 4}));
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.onnx"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ort_run"), std::string::npos) << msg;  // node's stderr is carried
  }
  EXPECT_THROW(kiln::runtime::run_onnxruntime(dir.file("missing.onnx"), at::zeros({1, 1, 4, 4})), kiln::DataError);
}

// ---- The three built-in networks, exported and run in onnxruntime. ----

struct Case {
  const char* arch;
  int n_layers, base_width;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.arch; }

class ExportNetwork : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    at::manual_seed(7);
    net_ = make(GetParam().arch, GetParam().n_layers, GetParam().base_width);
    const auto& a = net_->architecture();
    sample_ = at::randn({4, a.in_channels, a.height, a.width});
  }
  std::shared_ptr<Network> net_;
  at::Tensor sample_;
  TempDir dir_;
};

TEST_P(ExportNetwork, Fp32MatchesLibTorchWithDynamicBatch) {
  const std::string path = dir_.file("model.onnx");
  kiln::runtime::export_onnx(*net_, ExportOptions{}, path);
  ASSERT_TRUE(kiln::file_exists(path));

  const auto info = kiln::runtime::inspect_onnx(path);  // reloads the file and runs the ONNX checker again
  EXPECT_EQ(info.opset, 13);
  EXPECT_EQ(info.producer, "kiln");
  EXPECT_EQ(info.metadata.at("kiln.data_type"), "fp32");
  EXPECT_NE(info.metadata.at("kiln.architecture").find(GetParam().arch), std::string::npos);
  const auto& a = net_->architecture();
  EXPECT_EQ(info.inputs.at("input"), (std::vector<std::string>{"batch", std::to_string(a.in_channels),
                                                               std::to_string(a.height), std::to_string(a.width)}));
  EXPECT_EQ(info.outputs.at("output"), (std::vector<std::string>{"batch", std::to_string(a.num_classes)}));
  EXPECT_EQ(info.io_types.at("input"), "FLOAT");
  EXPECT_EQ(info.op_counts.count("BatchNormalization"), 0u) << "every BN follows a conv and must be folded";

  // Tensor names follow the graph: each node's tensor (the BN's for a folded conv) exists in the model.
  const Graph g = net_->graph();
  for (const auto& [node, tensor] : kiln::runtime::onnx_tensor_names(g))
    EXPECT_NE(std::find(info.tensors.begin(), info.tensors.end(), tensor), info.tensors.end()) << node;

  const at::Tensor ort = kiln::runtime::run_onnxruntime(path, sample_);
  const at::Tensor ref = forward(*net_, sample_);
  ASSERT_EQ(ort.sizes(), ref.sizes());
  EXPECT_LT(max_abs_diff(ort, ref), 1e-4) << "max |logit| " << ref.abs().max().item<double>();

  // Dynamic batch axis: another batch size through the same file.
  const at::Tensor x7 = at::randn({7, a.in_channels, a.height, a.width});
  const at::Tensor ort7 = kiln::runtime::run_onnxruntime(path, x7);
  ASSERT_EQ(ort7.sizes(), (std::vector<int64_t>{7, a.num_classes}));
  EXPECT_LT(max_abs_diff(ort7, forward(*net_, x7)), 1e-4);
}

TEST_P(ExportNetwork, Fp16MatchesLibTorchWithinHalfPrecision) {
  const std::string path = dir_.file("model_fp16.onnx");
  ExportOptions opt;
  opt.data_type = DataType::kFp16;
  kiln::runtime::export_onnx(*net_, opt, path);
  const auto info = kiln::runtime::inspect_onnx(path);
  // float32 I/O (as TAO's fp16 engines), float16 inside: one Cast at each end.
  EXPECT_EQ(info.io_types.at("input"), "FLOAT");
  EXPECT_EQ(info.io_types.at("output"), "FLOAT");
  EXPECT_EQ(info.op_counts.at("Cast"), 2);
  EXPECT_EQ(info.metadata.at("kiln.data_type"), "fp16");

  const at::Tensor ort = kiln::runtime::run_onnxruntime(path, sample_);
  const at::Tensor ref = forward(*net_, sample_);
  ASSERT_EQ(ort.sizes(), ref.sizes());
  EXPECT_LT(max_abs_diff(ort, ref), fp16_tolerance(ref)) << "max |logit| " << ref.abs().max().item<double>();
}

TEST_P(ExportNetwork, Int8QdqRunsAndAgreesWithFp32) {
  const auto& a = net_->architecture();
  const at::Tensor calib = at::randn({32, a.in_channels, a.height, a.width});
  ExportOptions opt;
  opt.data_type = DataType::kInt8;
  opt.activation_scales = observed_scales(*net_, calib);
  const std::string path = dir_.file("model_int8.onnx");
  kiln::runtime::export_onnx(*net_, opt, path);

  const Graph g = net_->graph();
  const auto info = kiln::runtime::inspect_onnx(path);
  int weighted = 0;
  for (const Node& n : g.nodes) weighted += n.op == Op::Conv || n.op == Op::Linear;
  const auto activations = kiln::runtime::int8_activation_tensors(g, opt);
  EXPECT_EQ(activations.front(), "input");
  // One Q/DQ pair per weight (per-channel) and per quantized activation tensor.
  EXPECT_EQ(info.op_counts.at("QuantizeLinear"), weighted + static_cast<int>(activations.size()));
  EXPECT_EQ(info.op_counts.at("DequantizeLinear"), weighted + static_cast<int>(activations.size()));
  EXPECT_EQ(info.metadata.at("kiln.data_type"), "int8");

  const at::Tensor ort = kiln::runtime::run_onnxruntime(path, calib);
  const at::Tensor ref = forward(*net_, calib);
  ASSERT_EQ(ort.sizes(), ref.sizes());
  const double agree = argmax_agreement(ort, ref);
  EXPECT_GE(agree, 0.75) << "int8 vs fp32 top-1 agreement on " << calib.size(0) << " samples";
  std::cout << "[ info ] " << GetParam().arch << " int8 top-1 agreement " << agree << ", max |Δlogit| "
            << max_abs_diff(ort, ref) << " (max |logit| " << ref.abs().max().item<double>() << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Networks, ExportNetwork,
                         ::testing::Values(Case{"lenet5", 18, 64}, Case{"resnet", 10, 16},
                                           Case{"mobilenet_v2", 18, 64}),
                         [](const auto& info) { return std::string(info.param.arch); });

TEST(Export, RegistryHasTheThreeNetworks) {
  const auto names = kiln::networks::network_names();
  for (const char* arch : {"lenet5", "resnet", "mobilenet_v2"})
    EXPECT_NE(std::find(names.begin(), names.end(), arch), names.end()) << arch;
}

// ---- Residual Add with Q/DQ on both inputs (the TensorRT-fusion placement). ----

TEST(Export, Int8WithQuantizedAddInputs) {
  at::manual_seed(3);
  auto net = make("resnet", 10, 16);
  const at::Tensor calib = at::randn({32, 1, 28, 28});
  ExportOptions opt;
  opt.data_type = DataType::kInt8;
  opt.quantize_add_inputs = true;
  opt.activation_scales = observed_scales(*net, calib);
  TempDir dir;
  kiln::runtime::export_onnx(*net, opt, dir.file("m.onnx"));
  const auto info = kiln::runtime::inspect_onnx(dir.file("m.onnx"));
  ExportOptions plain = opt;
  plain.quantize_add_inputs = false;
  EXPECT_GT(kiln::runtime::int8_activation_tensors(net->graph(), opt).size(),
            kiln::runtime::int8_activation_tensors(net->graph(), plain).size());
  const at::Tensor ort = kiln::runtime::run_onnxruntime(dir.file("m.onnx"), calib);
  EXPECT_GE(argmax_agreement(ort, forward(*net, calib)), 0.75);
}

// ---- Failures leave nothing behind. ----

TEST(Export, UnwritablePathIsAUsageErrorNamingIt) {
  at::manual_seed(1);
  auto net = make("lenet5");
  TempDir dir;
  kiln::atomic_write_string(dir.file("plain_file"), "x");
  const std::string cases[] = {dir.file("no/such/dir/model.onnx"), dir.file("plain_file/model.onnx"), dir.path()};
  for (const std::string& path : cases) {
    try {
      kiln::runtime::export_onnx(*net, ExportOptions{}, path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const kiln::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain_file"});
}

TEST(Export, MissingActivationScaleNamesTheTensorAndKeepsTheOldFile) {
  at::manual_seed(2);
  auto net = make("resnet", 10, 8);
  TempDir dir;
  const std::string path = dir.file("model.onnx");
  kiln::runtime::export_onnx(*net, ExportOptions{}, path);
  const std::string before = kiln::read_file(path);

  ExportOptions opt;
  opt.data_type = DataType::kInt8;
  opt.activation_scales = observed_scales(*net, at::randn({4, 1, 28, 28}));
  ASSERT_EQ(opt.activation_scales.erase("layer2.0.relu1"), 1u);  // input of layer2.0.conv2
  try {
    kiln::runtime::export_onnx(*net, opt, path);
    FAIL() << "expected kiln::Error";
  } catch (const kiln::UsageError& e) {
    FAIL() << "a missing scale is not a usage error: " << e.what();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'layer2.0.relu1'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer2.0.conv2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(kiln::read_file(path), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.onnx"});

  opt.activation_scales.clear();
  try {
    kiln::runtime::export_onnx(*net, opt, dir.file("other.onnx"));
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'input'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(kiln::file_exists(dir.file("other.onnx")));
}

TEST(Export, OptionsAreChecked) {
  auto net = make("lenet5");
  TempDir dir;
  ExportOptions opt;
  opt.opset = 11;
  EXPECT_THROW(kiln::runtime::export_onnx(*net, opt, dir.file("a.onnx")), kiln::UsageError);
  opt.opset = 12;
  opt.data_type = DataType::kInt8;  // per-channel Q/DQ needs opset 13
  EXPECT_THROW(kiln::runtime::export_onnx(*net, opt, dir.file("a.onnx")), kiln::UsageError);
  opt.data_type = DataType::kFp32;
  kiln::runtime::export_onnx(*net, opt, dir.file("a.onnx"));  // TAO's default --target_opset
  EXPECT_EQ(kiln::runtime::inspect_onnx(dir.file("a.onnx")).opset, 12);
  EXPECT_EQ(kiln::runtime::parse_data_type("fp16"), DataType::kFp16);
  EXPECT_THROW(kiln::runtime::parse_data_type("bf16"), kiln::UsageError);
  EXPECT_THROW(kiln::runtime::inspect_onnx(dir.file("missing.onnx")), kiln::DataError);
}

// ---- Naming rule and hand-built graphs (a BN with no conv before it, Relu6, unfolded BN). ----

TEST(Export, TensorNamingRule) {
  auto net = make("resnet", 10, 8);
  const Graph g = net->graph();
  const auto names = kiln::runtime::onnx_tensor_names(g);
  EXPECT_EQ(names.count("conv1"), 0u) << "a conv with a folded BN has no tensor of its own";
  EXPECT_EQ(names.at("bn1"), "bn1");
  EXPECT_EQ(names.at(g.nodes[g.output].name), "output");
  ExportOptions fp16;
  fp16.data_type = DataType::kFp16;
  EXPECT_EQ(kiln::runtime::onnx_tensor_names(g, fp16).at(g.nodes[g.output].name), g.nodes[g.output].name);
  const auto acts = kiln::runtime::int8_activation_tensors(g);
  // Conv/Gemm inputs only: the stem's relu feeds layer1.0.conv1, bn1 feeds only that relu.
  EXPECT_EQ(acts.front(), "input");
  EXPECT_NE(std::find(acts.begin(), acts.end(), "relu"), acts.end());
  EXPECT_NE(std::find(acts.begin(), acts.end(), "layer1.0.relu1"), acts.end());
  EXPECT_NE(std::find(acts.begin(), acts.end(), "flatten"), acts.end());
  EXPECT_EQ(std::find(acts.begin(), acts.end(), "bn1"), acts.end());
  EXPECT_EQ(std::find(acts.begin(), acts.end(), "conv1"), acts.end());
}

namespace {
// input → BN (no conv before it: BatchNormalization) → conv(bias) → relu6 → conv(no bias) → bn → add(relu6 out)
//       → global pool → flatten → linear
struct Handmade : torch::nn::Module {
  Handmade() {
    bn0 = register_module("bn0", torch::nn::BatchNorm2d(3));
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1).groups(4).bias(false)));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(8));
    fc = register_module("fc", torch::nn::Linear(8, 5));
  }
  torch::nn::BatchNorm2d bn0{nullptr}, bn2{nullptr};
  torch::nn::Conv2d c1{nullptr}, c2{nullptr};
  torch::nn::Linear fc{nullptr};
};

Node node(Op op, const std::string& name, std::vector<int> inputs, bool has_module = false) {
  Node n;
  n.op = op;
  n.name = name;
  if (has_module) n.module = name;
  n.inputs = std::move(inputs);
  return n;
}

Graph handmade_graph() {
  Graph g;
  g.in_channels = 3, g.height = 10, g.width = 12;
  auto add = [&](Node n) {
    g.nodes.push_back(std::move(n));
    return static_cast<int>(g.nodes.size()) - 1;
  };
  Node bn0 = node(Op::BatchNorm, "bn0", {kiln::networks::kGraphInput}, true);
  bn0.in_channels = bn0.out_channels = 3;
  const int b0 = add(bn0);
  Node c1 = node(Op::Conv, "c1", {b0}, true);
  c1.kernel = 3, c1.padding = 1, c1.in_channels = 3, c1.out_channels = 8;
  const int r = add(node(Op::Relu6, "c1.relu6", {add(c1)}));
  Node c2 = node(Op::Conv, "c2", {r}, true);
  c2.kernel = 3, c2.padding = 1, c2.groups = 4, c2.in_channels = 8, c2.out_channels = 8;
  Node bn2 = node(Op::BatchNorm, "bn2", {add(c2)}, true);
  bn2.in_channels = bn2.out_channels = 8;
  const int sum = add(node(Op::Add, "add", {add(bn2), r}));
  const int flat = add(node(Op::Flatten, "flatten", {add(node(Op::GlobalAvgPool, "pool", {sum}))}));
  Node fc = node(Op::Linear, "fc", {flat}, true);
  fc.in_channels = 8, fc.out_channels = 5;
  g.output = add(fc);
  return g;
}
}  // namespace

TEST(Export, HandBuiltGraphWithUnfoldedBatchNorm) {
  at::manual_seed(5);
  Handmade m;
  ASSERT_EQ(kiln::test_support::randomise_batch_norms(m, 5), 2);  // bn0 and bn2
  m.eval();
  const Graph g = handmade_graph();
  TempDir dir;
  kiln::runtime::export_onnx(g, m, ExportOptions{}, dir.file("h.onnx"), "handmade");
  const auto info = kiln::runtime::inspect_onnx(dir.file("h.onnx"));
  EXPECT_EQ(info.op_counts.at("BatchNormalization"), 1);  // bn0: no conv before it
  EXPECT_EQ(info.op_counts.at("Conv"), 2);
  EXPECT_EQ(info.op_counts.at("Clip"), 1);
  EXPECT_EQ(info.doc_string, "kiln handmade (fp32)");
  EXPECT_EQ(info.outputs.at("output"), (std::vector<std::string>{"batch", "5"}));

  const at::Tensor x = at::randn({3, 3, 10, 12}) * 4;  // large enough for Relu6 to clip
  at::Tensor ref;
  {
    torch::NoGradGuard no_grad;
    ref = kiln::networks::run_graph(g, m, x);
  }
  EXPECT_LT(max_abs_diff(kiln::runtime::run_onnxruntime(dir.file("h.onnx"), x), ref), 1e-4);

  // The same graph in fp16 and int8 (every weighted layer and the grouped conv quantized per channel).
  ExportOptions half;
  half.data_type = DataType::kFp16;
  kiln::runtime::export_onnx(g, m, half, dir.file("h16.onnx"));
  EXPECT_LT(max_abs_diff(kiln::runtime::run_onnxruntime(dir.file("h16.onnx"), x), ref), fp16_tolerance(ref));

  ExportOptions int8;
  int8.data_type = DataType::kInt8;
  const auto names = kiln::runtime::onnx_tensor_names(g, int8);
  int8.activation_scales["input"] = x.abs().max().item<float>() / 127;
  {
    torch::NoGradGuard no_grad;
    kiln::networks::run_graph(g, m, x, [&](const Node& n, const at::Tensor& y) {
      if (names.count(n.name)) int8.activation_scales[names.at(n.name)] = y.abs().max().item<float>() / 127;
    });
  }
  EXPECT_EQ(kiln::runtime::int8_activation_tensors(g, int8),
            (std::vector<std::string>{"bn0", "c1.relu6", "flatten"}));  // the input feeds a BN, not a conv
  kiln::runtime::export_onnx(g, m, int8, dir.file("h8.onnx"));
  const auto info8 = kiln::runtime::inspect_onnx(dir.file("h8.onnx"));
  EXPECT_EQ(info8.op_counts.at("QuantizeLinear"), 3 + 3);  // c1, c2, fc weights + 3 activations
  // 8-bit activations and weights: within a few quantisation steps of the logits' range.
  EXPECT_LT(max_abs_diff(kiln::runtime::run_onnxruntime(dir.file("h8.onnx"), x), ref),
            0.1 * std::max(1.0, ref.abs().max().item<double>()));
}

TEST(Export, InconsistentGraphNamesTheNode) {
  Handmade m;
  Graph g = handmade_graph();
  g.nodes[1].kernel = 5;  // c1's weight is 3x3
  TempDir dir;
  try {
    kiln::runtime::export_onnx(g, m, ExportOptions{}, dir.file("h.onnx"));
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'c1'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("c1.weight"), std::string::npos) << e.what();
  }
  g = handmade_graph();
  g.nodes[3].module = "nope";
  EXPECT_THROW(kiln::runtime::export_onnx(g, m, ExportOptions{}, dir.file("h.onnx")), kiln::Error);
  EXPECT_TRUE(dir.entries().empty());
}
