// DetectNet_v2 export: the ONNX model has exactly the two deployable outputs ("output_cov/Sigmoid",
// "output_bbox/BiasAdd", dynamic batch) and no Concat of the heads; fp32/fp16/int8 QDQ run in onnxruntime next to
// LibTorch's heads; a graph output's conv keeps its BN unfolded; bad output names are errors. Then `kiln detectnet_v2
// export` through the CLI on a model trained for one epoch on synthetic scenes: status KPIs, DeepStream files, the
// random-image fallback when the spec's shards are gone, and INT8's clear error in that case. onnxruntime comes from
// setup.sh (.deps/onnxruntime-node); without it these tests fail, they do not skip.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"
#include "kiln/common/error.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/networks/graph.h"
#include "kiln/export/calibrate.h"
#include "kiln/export/export.h"
#include "kiln/export/onnxruntime.h"
#include "support/bn_stats.h"

namespace fs = std::filesystem;
using kiln::networks::DetectNetHeads;
using kiln::networks::DetectNetV2;
using kiln::networks::Graph;
using kiln::networks::Node;
using kiln::networks::Op;
using kiln::runtime::DataType;
using kiln::runtime::ExportOptions;

namespace {

const std::string kCov = "output_cov/Sigmoid", kBbox = "output_bbox/BiasAdd";

// 3 classes, ResNet-10 of width 8, 64x64 RGB, stride 16: a 4x4 grid.
std::shared_ptr<DetectNetV2> make_detectnet() {
  auto a = kiln::networks::detectnet_v2_architecture(3, 10, 3, 64, 64, 16);
  a.base_width = 8;
  auto net = kiln::networks::make_detectnet_v2(a);
  EXPECT_GT(kiln::test_support::randomise_batch_norms(*net, 17), 0);
  net->eval();
  return net;
}

DetectNetHeads heads(DetectNetV2& net, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  DetectNetHeads h = net.forward_heads(x);
  return {h.cov.contiguous(), h.bbox.contiguous()};
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }
double fp16_tolerance(const at::Tensor& ref) { return std::max(1e-3, 1e-2 * ref.abs().max().item<double>()); }

// The outputs onnxruntime returns, in the model's order; checks they are exactly the two heads.
std::pair<at::Tensor, at::Tensor> run_heads(const std::string& path, const at::Tensor& x) {
  const auto out = kiln::runtime::run_onnxruntime_outputs(path, x);
  EXPECT_EQ(out.size(), 2u);
  if (out.size() != 2) return {};
  EXPECT_EQ(out[0].name, kCov);
  EXPECT_EQ(out[1].name, kBbox);
  return {out[0].value, out[1].value};
}

class DetectnetExport : public ::testing::Test {
 protected:
  void SetUp() override {
    at::manual_seed(21);
    net_ = make_detectnet();
    sample_ = at::rand({4, 3, 64, 64});  // DetectNet_v2 inputs are pixels / 255, in [0, 1]
  }
  std::shared_ptr<DetectNetV2> net_;
  at::Tensor sample_;
  kiln::testing::TempDir dir_{"detectnet_export"};
  std::string file(const std::string& name) const { return (dir_.path / name).string(); }
};

}  // namespace

TEST_F(DetectnetExport, Fp32HasTheTwoNamedOutputsAndMatchesLibTorchHeads) {
  const std::string path = file("model.onnx");
  kiln::runtime::export_onnx(*net_, ExportOptions{}, path);
  const auto info = kiln::runtime::inspect_onnx(path);
  EXPECT_EQ(info.metadata.at("kiln.data_type"), "fp32");
  EXPECT_EQ(info.inputs.at("input"), (std::vector<std::string>{"batch", "3", "64", "64"}));
  ASSERT_EQ(info.outputs.size(), 2u);
  EXPECT_EQ(info.outputs.at(kCov), (std::vector<std::string>{"batch", "3", "4", "4"}));
  EXPECT_EQ(info.outputs.at(kBbox), (std::vector<std::string>{"batch", "12", "4", "4"}));
  EXPECT_EQ(info.io_types.at(kCov), "FLOAT");
  EXPECT_EQ(info.io_types.at(kBbox), "FLOAT");
  EXPECT_EQ(info.op_counts.count("Concat"), 0u) << "the Concat of the heads (forward()'s output) is not deployed";
  EXPECT_EQ(info.op_counts.count("BatchNormalization"), 0u);
  EXPECT_EQ(info.op_counts.at("Sigmoid"), 1);
  EXPECT_EQ(std::find(info.tensors.begin(), info.tensors.end(), "heads"), info.tensors.end());
  EXPECT_EQ(std::find(info.tensors.begin(), info.tensors.end(), "output"), info.tensors.end());

  // Naming: the heads write the output tensors themselves; the Concat has no tensor.
  const Graph g = net_->graph();
  const auto names = kiln::runtime::onnx_tensor_names(g);
  EXPECT_EQ(names.at("output_cov.sigmoid"), kCov);
  EXPECT_EQ(names.at("output_bbox"), kBbox);
  EXPECT_EQ(names.at("output_cov"), "output_cov");
  EXPECT_EQ(names.count("heads"), 0u);
  for (const auto& [node, tensor] : names)
    EXPECT_NE(std::find(info.tensors.begin(), info.tensors.end(), tensor), info.tensors.end()) << node;

  const DetectNetHeads ref = heads(*net_, sample_);
  const auto [cov, bbox] = run_heads(path, sample_);
  ASSERT_EQ(cov.sizes(), ref.cov.sizes());
  ASSERT_EQ(bbox.sizes(), ref.bbox.sizes());
  EXPECT_LE(max_abs_diff(cov, ref.cov), 1e-4);
  EXPECT_LE(max_abs_diff(bbox, ref.bbox), 1e-4) << "max |bbox| " << ref.bbox.abs().max().item<double>();
  // The first output is still what run_onnxruntime returns.
  EXPECT_LE(max_abs_diff(kiln::runtime::run_onnxruntime(path, sample_), ref.cov), 1e-4);

  // Dynamic batch axis.
  const at::Tensor x5 = at::rand({5, 3, 64, 64});
  const DetectNetHeads ref5 = heads(*net_, x5);
  const auto [cov5, bbox5] = run_heads(path, x5);
  ASSERT_EQ(cov5.sizes(), (std::vector<int64_t>{5, 3, 4, 4}));
  EXPECT_LE(max_abs_diff(cov5, ref5.cov), 1e-4);
  EXPECT_LE(max_abs_diff(bbox5, ref5.bbox), 1e-4);
}

TEST_F(DetectnetExport, Fp16CastsEachOutputBackToFloat) {
  const std::string path = file("model_fp16.onnx");
  ExportOptions opt;
  opt.data_type = DataType::kFp16;
  kiln::runtime::export_onnx(*net_, opt, path);
  const auto info = kiln::runtime::inspect_onnx(path);
  EXPECT_EQ(info.op_counts.at("Cast"), 3) << "one after the input, one before each output";
  EXPECT_EQ(info.io_types.at("input"), "FLOAT");
  EXPECT_EQ(info.io_types.at(kCov), "FLOAT");
  EXPECT_EQ(info.io_types.at(kBbox), "FLOAT");
  EXPECT_EQ(info.outputs.at(kBbox), (std::vector<std::string>{"batch", "12", "4", "4"}));
  ExportOptions fp16;
  fp16.data_type = DataType::kFp16;
  EXPECT_EQ(kiln::runtime::onnx_tensor_names(net_->graph(), fp16).at("output_bbox"), "output_bbox");

  const DetectNetHeads ref = heads(*net_, sample_);
  const auto [cov, bbox] = run_heads(path, sample_);
  EXPECT_LT(max_abs_diff(cov, ref.cov), fp16_tolerance(ref.cov));
  EXPECT_LT(max_abs_diff(bbox, ref.bbox), fp16_tolerance(ref.bbox));
  std::cout << "[ info ] fp16 max |Δcov| " << max_abs_diff(cov, ref.cov) << ", max |Δbbox| "
            << max_abs_diff(bbox, ref.bbox) << " (max |bbox| " << ref.bbox.abs().max().item<double>() << ")\n";
}

TEST_F(DetectnetExport, Int8QdqCalibratedOnTheTwoOutputGraph) {
  // The calibrator observes every node of the graph (the Concat too, whose range nothing uses); scales are keyed by
  // the exported tensor names as export_task does.
  const at::Tensor calib = at::rand({16, 3, 64, 64});
  const Graph g = net_->graph();
  ExportOptions opt;
  opt.data_type = DataType::kInt8;
  kiln::runtime::Calibrator calibrator;
  {
    torch::NoGradGuard no_grad;
    calibrator.observe_input(calib);
    const auto outs = kiln::networks::run_graph_outputs(g, *net_, calib, calibrator.observer());
    ASSERT_EQ(outs.size(), 2u);
  }
  const auto amax = calibrator.amax(kiln::runtime::CalibrationMethod::Max);
  std::map<std::string, float> by_tensor{{"input", amax.at(kiln::runtime::Calibrator::kInputTensor)}};
  for (const auto& [node, tensor] : kiln::runtime::onnx_tensor_names(g, opt))
    if (auto it = amax.find(node); it != amax.end()) by_tensor[tensor] = it->second;
  opt.activation_scales = kiln::runtime::scales_from_amax(by_tensor);

  const auto acts = kiln::runtime::int8_activation_tensors(g, opt);
  EXPECT_EQ(acts.front(), "input");
  // Both heads read the backbone's last ReLU through one shared Q/DQ pair.
  const int features = g.nodes[static_cast<size_t>(g.outputs.at(1).node)].inputs.at(0);
  const std::string feature_tensor = g.nodes[static_cast<size_t>(features)].name;
  EXPECT_EQ(std::count(acts.begin(), acts.end(), feature_tensor), 1);

  const std::string path = file("model_int8.onnx");
  kiln::runtime::export_onnx(*net_, opt, path);
  const auto info = kiln::runtime::inspect_onnx(path);
  int convs = 0;
  for (const Node& n : g.nodes) convs += n.op == Op::Conv;
  EXPECT_EQ(info.op_counts.at("QuantizeLinear"), convs + static_cast<int>(acts.size()));
  EXPECT_EQ(info.op_counts.at("DequantizeLinear"), convs + static_cast<int>(acts.size()));
  EXPECT_EQ(info.outputs.size(), 2u);

  const DetectNetHeads ref = heads(*net_, calib);
  const auto [cov, bbox] = run_heads(path, calib);
  ASSERT_EQ(cov.sizes(), ref.cov.sizes());
  const double agree = (cov > 0.5).eq(ref.cov > 0.5).to(at::kDouble).mean().item<double>();
  EXPECT_GE(agree, 0.9);
  EXPECT_LT(max_abs_diff(cov, ref.cov), 0.1);
  std::cout << "[ info ] int8: cov>0.5 agreement " << agree << " over " << cov.numel() << " cells, max |Δcov| "
            << max_abs_diff(cov, ref.cov) << ", max |Δbbox| " << max_abs_diff(bbox, ref.bbox) << " (max |bbox| "
            << ref.bbox.abs().max().item<double>() << ")\n";
}

TEST_F(DetectnetExport, OutputNamesAreChecked) {
  auto expect_error = [&](Graph g, const std::string& needle) {
    try {
      kiln::runtime::export_onnx(g, *net_, ExportOptions{}, file("bad.onnx"));
      ADD_FAILURE() << "no error for " << needle;
    } catch (const kiln::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(file("bad.onnx")));
  };
  Graph g = net_->graph();
  g.outputs[1].name = kCov;
  expect_error(g, "two graph outputs are named '" + kCov + "'");
  g = net_->graph();
  g.outputs[0].name = "layer1.0.relu1";  // a node's name
  expect_error(g, "layer1.0.relu1");
  g = net_->graph();
  g.outputs[0].name = "input";
  expect_error(g, "clashes with the input tensor name");
  g = net_->graph();
  g.outputs[1].node = g.outputs[0].node;
  expect_error(g, "are both");
  g = net_->graph();
  g.outputs[0].node = static_cast<int>(g.nodes.size());
  expect_error(g, "out of range");
  g = net_->graph();
  g.outputs[0].name.clear();
  expect_error(g, "has no name");
}

namespace {
// input → conv (bias) → bn → relu; outputs: the conv ("a/conv") and the relu ("b/relu").
struct ConvBn : torch::nn::Module {
  ConvBn() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 6, 3).padding(1)));
    bn = register_module("bn", torch::nn::BatchNorm2d(6));
  }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};

Graph conv_bn_graph() {
  Graph g;
  g.in_channels = 3, g.height = 8, g.width = 8;
  Node conv;
  conv.op = Op::Conv, conv.name = conv.module = "conv", conv.inputs = {kiln::networks::kGraphInput};
  conv.kernel = 3, conv.padding = 1, conv.in_channels = 3, conv.out_channels = 6;
  Node bn;
  bn.op = Op::BatchNorm, bn.name = bn.module = "bn", bn.inputs = {0}, bn.in_channels = bn.out_channels = 6;
  Node relu;
  relu.op = Op::Relu, relu.name = "relu", relu.inputs = {1};
  Node cat;
  cat.op = Op::Concat, cat.name = "cat", cat.inputs = {0, 2};
  g.nodes = {conv, bn, relu, cat};
  g.output = 3;
  g.outputs = {{0, "a/conv"}, {2, "b/relu"}};
  return g;
}
}  // namespace

TEST(DetectnetExportGraph, NoBatchNormFoldingIntoAnOutputConv) {
  at::manual_seed(4);
  ConvBn m;
  ASSERT_EQ(kiln::test_support::randomise_batch_norms(m, 3), 1);
  m.eval();
  const Graph g = conv_bn_graph();
  kiln::testing::TempDir dir("detectnet_export_graph");
  const std::string path = (dir.path / "g.onnx").string();
  kiln::runtime::export_onnx(g, m, ExportOptions{}, path);
  const auto info = kiln::runtime::inspect_onnx(path);
  EXPECT_EQ(info.op_counts.at("BatchNormalization"), 1) << "the conv's own output is deployed: its BN stays";
  EXPECT_EQ(info.op_counts.count("Concat"), 0u);
  EXPECT_EQ(info.outputs.at("a/conv"), (std::vector<std::string>{"batch", "6", "8", "8"}));
  EXPECT_EQ(info.outputs.at("b/relu"), (std::vector<std::string>{"batch", "6", "8", "8"}));

  const at::Tensor x = at::randn({2, 3, 8, 8});
  std::vector<at::Tensor> ref;
  {
    torch::NoGradGuard no_grad;
    ref = kiln::networks::run_graph_outputs(g, m, x);
  }
  const auto out = kiln::runtime::run_onnxruntime_outputs(path, x);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "a/conv");
  EXPECT_LE(max_abs_diff(out[0].value, ref[0]), 1e-5);
  EXPECT_LE(max_abs_diff(out[1].value, ref[1]), 1e-5);

  // Without named outputs the graph's Concat is the single output: emitted along the channels (no fold either: the
  // conv feeds the BN and the Concat).
  Graph single = g;
  single.outputs.clear();
  try {
    kiln::runtime::export_onnx(single, m, ExportOptions{}, (dir.path / "s.onnx").string());
    FAIL() << "a spatial single output is not a classifier's [classes]";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected [classes]"), std::string::npos) << e.what();
  }
}

// ---- `kiln detectnet_v2 export` through the CLI. ----

namespace {
nlohmann::json last_event(const fs::path& status) {
  std::istringstream in(kiln::testing::slurp(status));
  nlohmann::json last;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) last = nlohmann::json::parse(line);
  return last;
}
}  // namespace

TEST(DetectnetExportCli, TrainedModelToOnnxWithDeepStreamFiles) {
  using kiln::testing::run_kiln;
  using kiln::testing::slurp;
  kiln::testing::TempDir dir("detectnet_export_cli");
  const fs::path run = dir.path / "run";
  const std::string small = kiln::testing::small_synth_detection(dir.path, 24, 5);
  ASSERT_FALSE(HasFailure()) << "the synthetic scenes or their shards were not made";
  auto r = run_kiln("detectnet_v2 train -e " + kiln::testing::sample_spec("detectnet_v2_synth.yaml") + " -r " +
                    run.string() + small +
                    " training_config.num_epochs=1 training_config.batch_size_per_gpu=6"
                    " evaluation_config.first_validation_epoch=2");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string model = (run / "model.kiln").string();
  const fs::path out = dir.path / "export";

  // fp32 with the DeepStream files; the spec is the one stored in the model, its shards are there.
  r = run_kiln("detectnet_v2 export -m " + model + " -o " + (out / "model.onnx").string() + " --gen_ds_config");
  ASSERT_EQ(r.code, 0) << r.output;
  auto kpi = last_event(out / "status.json")["kpi"];
  EXPECT_LE(kpi["max_abs_cov_diff"].get<double>(), 1e-4) << kpi.dump();
  EXPECT_LE(kpi["max_abs_bbox_diff"].get<double>(), 1e-3) << kpi.dump();
  EXPECT_EQ(kpi["verification_data"], "dataset_config.validation_data_source.shards");
  EXPECT_EQ(kpi["verified_images"], 6);  // 25 % of 24
  const auto info = kiln::runtime::inspect_onnx((out / "model.onnx").string());
  EXPECT_EQ(info.outputs.at(kCov), (std::vector<std::string>{"batch", "10", "8", "8"}));  // stride 8
  EXPECT_EQ(info.outputs.at(kBbox), (std::vector<std::string>{"batch", "40", "8", "8"}));
  const std::string ds = slurp(out / "nvinfer_config.txt");
  for (const char* line : {"net-scale-factor=0.00392156862745098\n", "offsets=0.0;0.0;0.0\n", "infer-dims=3;64;64\n",
                           "model-color-format=0\n", "onnx-file=model.onnx\n", "labelfile-path=labels.txt\n",
                           "network-mode=0\n", "network-type=0\n", "num-detected-classes=10\n",
                           "output-blob-names=output_cov/Sigmoid;output_bbox/BiasAdd\n", "cluster-mode=2\n",
                           "[class-attrs-all]\npre-cluster-threshold=0.005\nnms-iou-threshold=0.4\n"})
    EXPECT_NE(ds.find(line), std::string::npos) << line << " not in\n" << ds;
  EXPECT_EQ(ds.find("int8-calib-file"), std::string::npos);
  EXPECT_EQ(ds.find("classifier-threshold"), std::string::npos);
  EXPECT_EQ(ds.find("[class-attrs-1]"), std::string::npos) << "every class has the same thresholds";
  EXPECT_EQ(slurp(out / "labels.txt"),
            "t_shirt\ntrouser\npullover\ndress\ncoat\nsandal\nshirt\nsneaker\nbag\nankle_boot\n");

  // fp16.
  r = run_kiln("detectnet_v2 export -m " + model + " -o " + (out / "model_fp16.onnx").string() +
               " --data_type fp16");
  ASSERT_EQ(r.code, 0) << r.output;
  kpi = last_event(out / "status.json")["kpi"];
  EXPECT_TRUE(kpi.contains("max_abs_bbox_diff")) << kpi.dump();

  // int8: calibrated on the training shards, the coverage agreement reported.
  r = run_kiln("detectnet_v2 export -m " + model + " -o " + (out / "model_int8.onnx").string() +
               " --data_type int8 --batches 2 --batch_size 4 --gen_ds_config");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("cov > 0.5 agrees on"), std::string::npos) << r.output;
  kpi = last_event(out / "status.json")["kpi"];
  EXPECT_GE(kpi["int8_cov_agreement"].get<double>(), 0.9) << kpi.dump();
  EXPECT_LE(kpi["int8_cov_max_abs_diff"].get<double>(), 0.2) << kpi.dump();
  EXPECT_TRUE(kpi.contains("int8_cov_positive_iou")) << kpi.dump();
  const std::string cache = slurp(out / "cal.bin");
  EXPECT_EQ(cache.rfind("TRT-8601-EntropyCalibration2\n", 0), 0u) << cache;
  EXPECT_NE(cache.find("\ninput: "), std::string::npos) << cache;
  const size_t line = r.output.find("INT8 (QDQ");
  if (line != std::string::npos)
    std::cout << "[ info ] " << r.output.substr(line, r.output.find('\n', line) - line) << "\n";
  EXPECT_NE(slurp(out / "nvinfer_config.txt").find("int8-calib-file=cal.bin\nnetwork-mode=1\n"), std::string::npos);

  // The spec's shards gone: fp32 still exports and compares on random images; int8 needs the images.
  const std::string gone = " \"dataset_config.data_sources=[{shards: " + (dir.path / "gone").string() + "}]\"" +
                           " dataset_config.validation_data_source.shards=" + (dir.path / "gone_val").string();
  r = run_kiln("detectnet_v2 export -m " + model + " -o " + (out / "random.onnx").string() + gone);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("deterministic random images"), std::string::npos) << r.output;
  EXPECT_EQ(last_event(out / "status.json")["kpi"]["verification_data"], "random images");
  r = run_kiln("detectnet_v2 export -m " + model + " -o " + (out / "random_int8.onnx").string() + gone +
               " --data_type int8");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("dataset_config.data_sources[0].shards"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "random_int8.onnx"));

  // The wrong command for the model.
  r = run_kiln("classification export -m " + model + " -o " + (out / "c.onnx").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("kiln detectnet_v2 export"), std::string::npos) << r.output;
}
