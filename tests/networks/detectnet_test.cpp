// DetectNet_v2 (networks/include/kiln/networks/detectnet_v2.h): head shapes at stride 16 and 8, coverage in (0, 1),
// graph() == forward() (and the two named outputs == forward_heads), torchvision's ResNet-18 parameter layout for
// the backbone (layer4 at stride 1), parameter counts, configuration errors, and gradients reaching every parameter.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/common/error.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/networks/graph.h"
#include "kiln/networks/network.h"
#include "support/bn_stats.h"

using kiln::networks::Architecture;
using kiln::networks::DetectNetHeads;
using kiln::networks::DetectNetV2;
using kiln::networks::Graph;
using kiln::networks::Node;
using kiln::networks::Op;

namespace {

using Shape = std::vector<int64_t>;

// Small and fast: width 16, 64x64 unless said otherwise.
Architecture small(int num_classes, int layers, int in_channels, int stride, int height = 64, int width = 64) {
  Architecture a = kiln::networks::detectnet_v2_architecture(num_classes, layers, in_channels, height, width, stride);
  a.base_width = 16;
  return a;
}

std::shared_ptr<DetectNetV2> build(const Architecture& a) {
  auto net = std::dynamic_pointer_cast<DetectNetV2>(kiln::networks::create(a));
  EXPECT_TRUE(net) << "create() did not build a DetectNetV2";
  return net;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// The UsageError's message, or "" when `f` throws none.
template <typename F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const kiln::UsageError& e) {
    return e.what();
  }
  return "";
}

// The golden of ParametersMatchTorchvisionResNet18: the state_dict of torchvision.models.resnet18() with
// layer4[0].conv1 and layer4[0].downsample[0] at stride 1 and fc dropped, plus the heads for 10 classes, as
// "name=d0xd1x…" (empty: a scalar).
const char* kTorchvisionResNet18 = R"(
conv1.weight=64x3x7x7 bn1.weight=64 bn1.bias=64 bn1.running_mean=64 bn1.running_var=64
bn1.num_batches_tracked= layer1.0.conv1.weight=64x64x3x3 layer1.0.bn1.weight=64 layer1.0.bn1.bias=64
layer1.0.bn1.running_mean=64 layer1.0.bn1.running_var=64 layer1.0.bn1.num_batches_tracked=
layer1.0.conv2.weight=64x64x3x3 layer1.0.bn2.weight=64 layer1.0.bn2.bias=64 layer1.0.bn2.running_mean=64
layer1.0.bn2.running_var=64 layer1.0.bn2.num_batches_tracked= layer1.1.conv1.weight=64x64x3x3
layer1.1.bn1.weight=64 layer1.1.bn1.bias=64 layer1.1.bn1.running_mean=64 layer1.1.bn1.running_var=64
layer1.1.bn1.num_batches_tracked= layer1.1.conv2.weight=64x64x3x3 layer1.1.bn2.weight=64
layer1.1.bn2.bias=64 layer1.1.bn2.running_mean=64 layer1.1.bn2.running_var=64
layer1.1.bn2.num_batches_tracked= layer2.0.conv1.weight=128x64x3x3 layer2.0.bn1.weight=128
layer2.0.bn1.bias=128 layer2.0.bn1.running_mean=128 layer2.0.bn1.running_var=128
layer2.0.bn1.num_batches_tracked= layer2.0.conv2.weight=128x128x3x3 layer2.0.bn2.weight=128
layer2.0.bn2.bias=128 layer2.0.bn2.running_mean=128 layer2.0.bn2.running_var=128
layer2.0.bn2.num_batches_tracked= layer2.0.downsample.0.weight=128x64x1x1 layer2.0.downsample.1.weight=128
layer2.0.downsample.1.bias=128 layer2.0.downsample.1.running_mean=128 layer2.0.downsample.1.running_var=128
layer2.0.downsample.1.num_batches_tracked= layer2.1.conv1.weight=128x128x3x3 layer2.1.bn1.weight=128
layer2.1.bn1.bias=128 layer2.1.bn1.running_mean=128 layer2.1.bn1.running_var=128
layer2.1.bn1.num_batches_tracked= layer2.1.conv2.weight=128x128x3x3 layer2.1.bn2.weight=128
layer2.1.bn2.bias=128 layer2.1.bn2.running_mean=128 layer2.1.bn2.running_var=128
layer2.1.bn2.num_batches_tracked= layer3.0.conv1.weight=256x128x3x3 layer3.0.bn1.weight=256
layer3.0.bn1.bias=256 layer3.0.bn1.running_mean=256 layer3.0.bn1.running_var=256
layer3.0.bn1.num_batches_tracked= layer3.0.conv2.weight=256x256x3x3 layer3.0.bn2.weight=256
layer3.0.bn2.bias=256 layer3.0.bn2.running_mean=256 layer3.0.bn2.running_var=256
layer3.0.bn2.num_batches_tracked= layer3.0.downsample.0.weight=256x128x1x1 layer3.0.downsample.1.weight=256
layer3.0.downsample.1.bias=256 layer3.0.downsample.1.running_mean=256 layer3.0.downsample.1.running_var=256
layer3.0.downsample.1.num_batches_tracked= layer3.1.conv1.weight=256x256x3x3 layer3.1.bn1.weight=256
layer3.1.bn1.bias=256 layer3.1.bn1.running_mean=256 layer3.1.bn1.running_var=256
layer3.1.bn1.num_batches_tracked= layer3.1.conv2.weight=256x256x3x3 layer3.1.bn2.weight=256
layer3.1.bn2.bias=256 layer3.1.bn2.running_mean=256 layer3.1.bn2.running_var=256
layer3.1.bn2.num_batches_tracked= layer4.0.conv1.weight=512x256x3x3 layer4.0.bn1.weight=512
layer4.0.bn1.bias=512 layer4.0.bn1.running_mean=512 layer4.0.bn1.running_var=512
layer4.0.bn1.num_batches_tracked= layer4.0.conv2.weight=512x512x3x3 layer4.0.bn2.weight=512
layer4.0.bn2.bias=512 layer4.0.bn2.running_mean=512 layer4.0.bn2.running_var=512
layer4.0.bn2.num_batches_tracked= layer4.0.downsample.0.weight=512x256x1x1 layer4.0.downsample.1.weight=512
layer4.0.downsample.1.bias=512 layer4.0.downsample.1.running_mean=512 layer4.0.downsample.1.running_var=512
layer4.0.downsample.1.num_batches_tracked= layer4.1.conv1.weight=512x512x3x3 layer4.1.bn1.weight=512
layer4.1.bn1.bias=512 layer4.1.bn1.running_mean=512 layer4.1.bn1.running_var=512
layer4.1.bn1.num_batches_tracked= layer4.1.conv2.weight=512x512x3x3 layer4.1.bn2.weight=512
layer4.1.bn2.bias=512 layer4.1.bn2.running_mean=512 layer4.1.bn2.running_var=512
layer4.1.bn2.num_batches_tracked= output_cov.weight=10x512x1x1 output_cov.bias=10
output_bbox.weight=40x512x1x1 output_bbox.bias=40
)";

std::map<std::string, std::string> parse_golden(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream is(text);
  std::string tok;
  while (is >> tok) {
    const size_t eq = tok.find('=');
    out[tok.substr(0, eq)] = tok.substr(eq + 1);
  }
  return out;
}

std::string dims(const at::Tensor& t) {
  std::string s;
  for (int64_t d : t.sizes()) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

}  // namespace

TEST(DetectNetV2, HeadShapesAtStride16And8) {
  at::manual_seed(1);
  for (int stride : {16, 8})
    for (int in_channels : {1, 3})
      for (int layers : {10, 18}) {
        SCOPED_TRACE("stride " + std::to_string(stride) + ", " + std::to_string(in_channels) + " channels, resnet" +
                     std::to_string(layers));
        auto net = build(small(3, layers, in_channels, stride, 64, 96));
        net->eval();
        torch::NoGradGuard no_grad;
        const int64_t h = 64 / stride, w = 96 / stride;
        EXPECT_EQ(net->output_stride(), stride);
        EXPECT_EQ(net->output_grid(64, 96), (std::pair<int64_t, int64_t>{h, w}));
        const at::Tensor x = at::randn({2, in_channels, 64, 96});
        const DetectNetHeads heads = net->forward_heads(x);
        EXPECT_EQ(heads.cov.sizes(), (Shape{2, 3, h, w}));
        EXPECT_EQ(heads.bbox.sizes(), (Shape{2, 12, h, w}));
        EXPECT_GT(heads.cov.min().item<double>(), 0.0);
        EXPECT_LT(heads.cov.max().item<double>(), 1.0);
        EXPECT_GT(heads.bbox.min().item<double>(), -1e6);  // finite, and linear: some negative values
        EXPECT_LT(heads.bbox.min().item<double>(), 0.0);
        // forward() = cat(cov, bbox) along the channels, and split_detectnet_heads undoes it.
        const at::Tensor out = net->forward(x);
        EXPECT_EQ(out.sizes(), (Shape{2, 15, h, w}));
        const DetectNetHeads split = kiln::networks::split_detectnet_heads(out, 3);
        EXPECT_EQ(max_diff(split.cov, heads.cov), 0.0);
        EXPECT_EQ(max_diff(split.bbox, heads.bbox), 0.0);
        // Fully convolutional: any multiple of the stride, not only the architecture's size.
        EXPECT_EQ(net->forward(at::randn({1, in_channels, 32, 48})).sizes(), (Shape{1, 15, 32 / stride, 48 / stride}));
      }
}

TEST(DetectNetV2, GraphEqualsForwardWithTwoNamedOutputs) {
  for (int stride : {16, 8})
    for (int in_channels : {1, 3}) {
      Architecture a = small(4, 18, in_channels, stride);
      SCOPED_TRACE(a.summary());
      auto net = build(a);
      EXPECT_GT(kiln::test_support::randomise_batch_norms(*net, 7), 0);
      net->eval();
      at::manual_seed(7);
      const at::Tensor x = at::randn({2, in_channels, 64, 64}) * 2;
      const Graph g = net->graph();
      at::Tensor via_forward;
      DetectNetHeads heads;
      {
        torch::NoGradGuard no_grad;
        via_forward = net->forward(x);
        heads = net->forward_heads(x);
      }
      std::vector<std::string> observed;
      const at::Tensor via_graph =
          kiln::networks::run_graph(g, *net, x, [&](const Node& n, const at::Tensor&) { observed.push_back(n.name); });
      ASSERT_EQ(via_graph.sizes(), via_forward.sizes());
      const double scale = std::max(1.0, via_forward.abs().max().item<double>());
      EXPECT_LE(max_diff(via_graph, via_forward), 1e-5 * scale);
      EXPECT_GT(heads.bbox.abs().max().item<double>(), 1e-3);  // not a degenerate all-zero comparison
      EXPECT_EQ(observed.size(), g.nodes.size());

      const auto outs = kiln::networks::run_graph_outputs(g, *net, x);
      ASSERT_EQ(outs.size(), 2u);
      EXPECT_LE(max_diff(outs[0], heads.cov), 1e-5);
      EXPECT_LE(max_diff(outs[1], heads.bbox), 1e-5 * scale);

      // output = the Concat of the heads; outputs = the heads, by TAO's tensor names.
      const Node& out = g.nodes.at(static_cast<size_t>(g.output));
      EXPECT_EQ(out.op, Op::Concat);
      EXPECT_EQ(out.name, "heads");
      EXPECT_TRUE(g.consumers(g.output).empty());
      ASSERT_EQ(g.outputs.size(), 2u);
      EXPECT_EQ(g.outputs[0].name, "output_cov/Sigmoid");
      EXPECT_EQ(g.outputs[1].name, "output_bbox/BiasAdd");
      const Node& cov = g.nodes.at(static_cast<size_t>(g.outputs[0].node));
      const Node& bbox = g.nodes.at(static_cast<size_t>(g.outputs[1].node));
      EXPECT_EQ(cov.op, Op::Sigmoid);
      EXPECT_EQ(cov.name, "output_cov.sigmoid");
      EXPECT_EQ(g.nodes.at(static_cast<size_t>(cov.inputs.at(0))).name, "output_cov");
      EXPECT_EQ(bbox.op, Op::Conv);
      EXPECT_EQ(bbox.name, "output_bbox");
      EXPECT_EQ(out.inputs, (std::vector<int>{g.outputs[0].node, g.outputs[1].node}));
      EXPECT_EQ(g.at("output_cov").out_channels, 4);
      EXPECT_EQ(g.at("output_bbox").out_channels, 16);
      EXPECT_EQ(g.at("output_cov").kernel, 1);
      EXPECT_TRUE(g.at("output_cov").channel_key.empty());
      EXPECT_TRUE(g.at("output_bbox").channel_key.empty());
      EXPECT_STREQ(kiln::networks::op_name(Op::Sigmoid), "Sigmoid");
      EXPECT_STREQ(kiln::networks::op_name(Op::Concat), "Concat");

      // Backbone layout: 7x7/2 stem, max-pool only at stride 16, layer4 at stride 1 (projection for the width).
      EXPECT_EQ(g.at("conv1").kernel, 7);
      EXPECT_EQ(g.at("conv1").stride, 2);
      if (stride == 16) {
        EXPECT_EQ(g.at("maxpool").stride, 2);
      } else {
        EXPECT_THROW(g.at("maxpool"), kiln::Error);
      }
      EXPECT_EQ(g.at("layer2.0.conv1").stride, 2);
      EXPECT_EQ(g.at("layer3.0.conv1").stride, 2);
      EXPECT_EQ(g.at("layer4.0.conv1").stride, 1);
      EXPECT_EQ(g.at("layer4.0.downsample.0").stride, 1);
      EXPECT_EQ(g.at("layer4.0.downsample.0").channel_key, "layer4");

      // Every parameter is read by a node; every channel key is an Architecture::channels entry and vice versa.
      std::set<std::string> modules, keys;
      for (const Node& n : g.nodes) {
        if (!n.module.empty()) modules.insert(n.module);
        if (n.channel_key.empty()) continue;
        ASSERT_TRUE(net->architecture().channels.count(n.channel_key)) << n.name;
        EXPECT_EQ(net->architecture().channels.at(n.channel_key), n.out_channels) << n.name;
        keys.insert(n.channel_key);
      }
      for (const auto& p : net->named_parameters())
        EXPECT_TRUE(modules.count(p.key().substr(0, p.key().rfind('.')))) << p.key() << " is read by no node";
      for (const auto& kv : net->architecture().channels) EXPECT_TRUE(keys.count(kv.first)) << kv.first;
    }
}

TEST(DetectNetV2, PrunedWidthsBuildAndGraphEqualsForward) {
  Architecture a = small(2, 10, 3, 16);
  a.channels["layer4"] = 40;  // the heads' input
  a.channels["layer2.0.conv1"] = 7;
  auto net = build(a);
  net->eval();
  const Graph g = net->graph();
  EXPECT_EQ(g.at("output_cov").in_channels, 40);
  EXPECT_EQ(g.at("output_bbox").in_channels, 40);
  EXPECT_EQ(g.at("layer2.0.conv2").in_channels, 7);
  const at::Tensor x = at::randn({1, 3, 64, 64});
  torch::NoGradGuard no_grad;
  EXPECT_LE(max_diff(kiln::networks::run_graph(g, *net, x), net->forward(x)), 1e-5);
}

// Golden: torchvision 0.14 (python3: torchvision.models.resnet18(); layer4[0].conv1.stride = (1, 1);
// layer4[0].downsample[0].stride = (1, 1); drop fc; state_dict names and shapes) plus 1x1 heads with bias.
TEST(DetectNetV2, ParametersMatchTorchvisionResNet18) {
  auto net = build(kiln::networks::detectnet_v2_architecture(10, 18, 3, 384, 1248));
  // resnet18 without fc: 11,176,512; output_cov 512·10 + 10; output_bbox 512·40 + 40.
  EXPECT_EQ(kiln::networks::count_parameters(*net), 11202162);
  std::cout << "[ info ] detectnet_v2 resnet18 stride 16, 3 channels, 10 classes: "
            << kiln::networks::count_parameters(*net) << " parameters\n";
  const auto golden = parse_golden(kTorchvisionResNet18);
  std::map<std::string, std::string> ours;
  for (const auto& p : net->named_parameters()) ours[p.key()] = dims(p.value());
  for (const auto& b : net->named_buffers()) ours[b.key()] = dims(b.value());
  EXPECT_EQ(ours.size(), golden.size());
  for (const auto& [name, shape] : golden) {
    auto it = ours.find(name);
    if (it == ours.end()) {
      ADD_FAILURE() << "missing " << name;
    } else if (name.find("num_batches_tracked") == std::string::npos) {  // a scalar in both; LibTorch's may be [1]
      EXPECT_EQ(it->second, shape) << name;
    }
  }
  for (const auto& kv : ours) EXPECT_TRUE(golden.count(kv.first)) << "not in torchvision: " << kv.first;

  // The other counts, also from torchvision (ResNet(BasicBlock, [1, 1, 1, 1]) for resnet10); the stride changes no
  // parameter.
  EXPECT_EQ(kiln::networks::count_parameters(*build(kiln::networks::detectnet_v2_architecture(10, 18, 1, 64, 64))),
            11195890);
  EXPECT_EQ(kiln::networks::count_parameters(*build(kiln::networks::detectnet_v2_architecture(10, 18, 3, 64, 64, 8))),
            11202162);
  EXPECT_EQ(kiln::networks::count_parameters(*build(kiln::networks::detectnet_v2_architecture(10, 10, 3, 64, 64))),
            4931442);
  EXPECT_EQ(kiln::networks::count_parameters(*build(kiln::networks::detectnet_v2_architecture(10, 34, 3, 64, 64))),
            21310322);
}

TEST(DetectNetV2, BadConfigurationsAreUsageErrors) {
  const auto message = [](Architecture a) { return usage_error([&] { kiln::networks::create(a); }); };
  EXPECT_NE(message(small(2, 18, 3, 16, 72, 64)).find("multiples of the output stride 16, got 72x64"),
            std::string::npos);
  EXPECT_NE(message(small(2, 18, 3, 8, 64, 36)).find("multiples of the output stride 8, got 64x36"), std::string::npos);
  EXPECT_NE(message(small(2, 50, 3, 16)).find("detectnet_v2 num_layers must be 10, 18 or 34, got 50"),
            std::string::npos);
  EXPECT_NE(message(small(2, 18, 3, 32)).find("output stride must be 16 or 8, got 32"), std::string::npos);
  EXPECT_NE(message(small(2, 18, 2, 16)).find("input channels must be 1 or 3, got 2"), std::string::npos);
  EXPECT_NE(message(small(0, 18, 3, 16)).find("at least one class"), std::string::npos);
  Architecture drop = small(2, 18, 3, 16);
  drop.dropout = 1.0;
  EXPECT_NE(message(drop).find("dropout"), std::string::npos);
  Architecture other = small(2, 18, 3, 16);
  other.arch = "resnet";
  EXPECT_THROW(DetectNetV2{other}, kiln::UsageError);

  auto net = build(small(2, 10, 1, 16));
  EXPECT_NE(usage_error([&] { net->forward(at::randn({1, 1, 72, 64})); })
                .find("multiples of the output stride 16, got 72x64"),
            std::string::npos);
  EXPECT_NE(usage_error([&] { net->forward(at::randn({1, 3, 64, 64})); }).find("[N, 1, H, W], got [1, 3, 64, 64]"),
            std::string::npos);
  EXPECT_THROW(net->output_grid(0, 64), kiln::UsageError);
  EXPECT_THROW(kiln::networks::split_detectnet_heads(at::zeros({1, 9, 4, 4}), 2), kiln::Error);
}

TEST(DetectNetV2, BackwardReachesEveryParameter) {
  at::manual_seed(3);
  Architecture a = small(2, 18, 3, 16);
  a.dropout = 0.1;
  auto net = build(a);
  net->train();
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const DetectNetHeads h = net->forward_heads(x);
  const at::Tensor target = (at::rand({2, 2, 4, 4}) > 0.5).to(at::kFloat);
  const at::Tensor loss = at::binary_cross_entropy(h.cov.clamp(1e-5, 1 - 1e-5), target) +
                          (h.bbox - at::randn({2, 8, 4, 4})).abs().mean();
  loss.backward();
  int params = 0;
  for (const auto& p : net->named_parameters()) {
    ++params;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
  EXPECT_EQ(params, 64);
}

TEST(DetectNetV2, RegistryJsonSummaryAndFreezeBlocks) {
  const auto names = kiln::networks::network_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "detectnet_v2"), names.end());
  Architecture a = small(3, 10, 1, 8, 32, 48);
  a.channels["layer3"] = 20;
  auto net = build(a);
  const nlohmann::json j = net->architecture().to_json();
  EXPECT_EQ(j.at("output_stride"), 8);
  const Architecture round = Architecture::from_json(j);
  EXPECT_EQ(round.output_stride, 8);
  auto rebuilt = build(round);
  EXPECT_EQ(kiln::networks::count_parameters(*rebuilt), kiln::networks::count_parameters(*net));
  EXPECT_EQ(rebuilt->output_grid(32, 48), (std::pair<int64_t, int64_t>{4, 6}));
  EXPECT_EQ(net->architecture().summary(),
            "detectnet_v2 resnet10 1x32x48 -> 3 classes, stride 8, batch norm, width 16");

  // A classification architecture's JSON is as before (no output_stride).
  Architecture r;
  r.arch = "resnet";
  EXPECT_FALSE(kiln::networks::create(r)->architecture().to_json().contains("output_stride"));

  EXPECT_EQ(net->num_blocks(), 5);
  EXPECT_EQ(net->block_of("conv1.weight"), 0);
  EXPECT_EQ(net->block_of("bn1.bias"), 0);
  EXPECT_EQ(net->block_of("layer3.0.conv1.weight"), 3);
  EXPECT_EQ(net->block_of("layer4.0.downsample.1.running_mean"), 4);
  EXPECT_EQ(net->block_of("output_cov.weight"), -1);
  EXPECT_EQ(net->block_of("output_bbox.bias"), -1);
}
