// Network::graph() against Network::forward(): for every built-in network, run_graph over the graph equals forward()
// in eval mode, every parameter is read by some node, and the channel keys name the Architecture::channels entries
// that set each prunable layer — so prune, export and calibration, which only read the graph, see the trained model.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "kiln/common/error.h"
#include "kiln/networks/graph.h"
#include "kiln/networks/network.h"
#include "support/bn_stats.h"

using kiln::networks::Architecture;
using kiln::networks::Graph;
using kiln::networks::Network;
using kiln::networks::Node;
using kiln::networks::Op;

namespace {

Architecture arch(const std::string& name, int in_channels, int size, int n_layers = 18, int width = 64) {
  Architecture a;
  a.arch = name;
  a.in_channels = in_channels;
  a.height = a.width = size;
  a.n_layers = n_layers;
  a.base_width = width;
  return a;
}

std::string module_of(const std::string& key) { return key.substr(0, key.rfind('.')); }

// Everything graph() promises, for one network: the graph computes forward(), names are unique, every parameter is
// read, keyed layers match Architecture::channels, shapes match the observed outputs, the observer sees every node.
void check_graph(const Architecture& a, int batch = 2) {
  SCOPED_TRACE(a.summary());
  auto net = kiln::networks::create(a);
  // Random BN statistics and affine parameters (fresh ones are the identity, which would hide a skipped or misread
  // BN): every network with batch norm has some.
  EXPECT_EQ(kiln::test_support::randomise_batch_norms(*net, 7) > 0, a.use_batch_norm);
  net->eval();
  at::manual_seed(7);  // the inputs below
  const Graph g = net->graph();
  const Architecture& built = net->architecture();
  ASSERT_FALSE(g.nodes.empty());
  EXPECT_EQ(g.output, static_cast<int>(g.nodes.size()) - 1);
  EXPECT_EQ(g.in_channels, a.in_channels);
  EXPECT_EQ(g.height, a.height);
  EXPECT_EQ(g.width, a.width);

  // Graph == forward (eval).
  // Inputs scaled up so that ReLU6 (MobileNetV2) clamps at 6 somewhere: with unit inputs nothing reaches 6 and a
  // Relu6 node read as Relu would go unnoticed.
  const at::Tensor x = at::randn({batch, a.in_channels, a.height, a.width}) * 4;
  std::vector<std::string> observed;
  std::vector<double> max_out;
  const at::Tensor via_graph = kiln::networks::run_graph(g, *net, x, [&](const Node& n, const at::Tensor& out) {
    observed.push_back(n.name);
    max_out.push_back(out.max().item<double>());
    if (n.op == Op::Conv || n.op == Op::BatchNorm || n.op == Op::Linear) {
      ASSERT_GE(out.dim(), 2) << n.name;
      EXPECT_EQ(out.size(1), n.out_channels) << n.name;
    }
    if (n.op == Op::GlobalAvgPool) {
      ASSERT_EQ(out.dim(), 4) << n.name;
      EXPECT_EQ(out.size(2) * out.size(3), 1) << n.name;
    }
  });
  at::Tensor via_forward;
  {
    torch::NoGradGuard no_grad;
    via_forward = net->forward(x.clone());
  }
  ASSERT_EQ(via_graph.sizes(), (std::vector<int64_t>{batch, a.num_classes}));
  ASSERT_EQ(via_forward.sizes(), via_graph.sizes());
  // Same ATen ops in the same order: equal to 1e-5 (relative to the logits' scale when that exceeds 1).
  const double diff = (via_graph - via_forward).abs().max().item<double>();
  const double scale = via_forward.abs().max().item<double>();
  EXPECT_LE(diff, 1e-5 * std::max(1.0, scale)) << "run_graph differs from forward by " << diff << " (logits up to "
                                               << scale << ")";
  EXPECT_GT(scale, 1e-3);  // not a degenerate all-zero comparison

  // The observer saw every node once, in order.
  ASSERT_EQ(observed.size(), g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) EXPECT_EQ(observed[i], g.nodes[i].name);
  int relu6 = 0, clamped = 0;
  for (const Node& n : g.nodes) {
    if (n.op != Op::Relu6) continue;
    ++relu6;
    clamped += max_out.at(n.inputs.at(0)) > 6;
  }
  if (relu6 > 0) {
    EXPECT_GT(clamped, 0) << "no Relu6 input exceeds 6: the comparison does not exercise the clamp";
  }

  // Unique names; a readable op for every node; inputs are earlier nodes.
  std::set<std::string> names;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    EXPECT_TRUE(names.insert(n.name).second) << "duplicate node name " << n.name;
    EXPECT_EQ(n.inputs.size(), n.op == Op::Add ? 2u : 1u) << n.name;
    for (int in : n.inputs) EXPECT_TRUE(in == kiln::networks::kGraphInput || (in >= 0 && in < static_cast<int>(i)));
    EXPECT_EQ(&g.at(n.name), &n);
  }

  // Every parameter is read by some node; every module-backed node's module exists.
  std::set<std::string> modules;
  for (const Node& n : g.nodes)
    if (!n.module.empty()) modules.insert(n.module);
  std::set<std::string> param_modules;
  for (const auto& p : net->named_parameters()) {
    EXPECT_TRUE(modules.count(module_of(p.key()))) << p.key() << " is read by no node";
    param_modules.insert(module_of(p.key()));
  }
  for (const std::string& m : modules) EXPECT_TRUE(param_modules.count(m)) << "node module " << m << " has no weights";

  // Channel keys: each keyed layer's out channels are its Architecture::channels entry, and every entry keys a layer.
  std::set<std::string> keys;
  for (const Node& n : g.nodes) {
    if (n.channel_key.empty()) continue;
    EXPECT_TRUE(n.op == Op::Conv || n.op == Op::Linear) << n.name;
    ASSERT_TRUE(built.channels.count(n.channel_key)) << n.name << " has unknown key " << n.channel_key;
    EXPECT_EQ(built.channels.at(n.channel_key), n.out_channels) << n.name;
    keys.insert(n.channel_key);
  }
  for (const auto& kv : built.channels) EXPECT_TRUE(keys.count(kv.first)) << "no layer has key " << kv.first;

  // The logits come from the classifier, whose outputs are the classes and carry no key.
  const Node& out = g.nodes[g.output];
  EXPECT_EQ(out.op, Op::Linear);
  EXPECT_EQ(out.out_channels, a.num_classes);
  EXPECT_TRUE(out.channel_key.empty());
  EXPECT_TRUE(g.consumers(g.output).empty());
}

std::vector<int> inputs_named(const Graph& g, const std::string& name) { return g.at(name).inputs; }

}  // namespace

TEST(Graph, LeNet5EqualsForward) {
  check_graph(arch("lenet5", 1, 28));
  Architecture plain = arch("lenet5", 3, 32);
  plain.use_batch_norm = false;
  check_graph(plain);
}

TEST(Graph, LeNet5Layout) {
  const Graph g = kiln::networks::create(arch("lenet5", 1, 28))->graph();
  std::vector<std::string> names;
  for (const Node& n : g.nodes) names.push_back(n.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2",
                                             "flatten", "fc1", "relu3", "fc2", "relu4", "fc3"}));
  EXPECT_EQ(g.at("conv1").padding, 2);
  EXPECT_EQ(g.at("conv1").kernel, 5);
  EXPECT_EQ(g.at("pool1").stride, 2);
  EXPECT_EQ(g.at("fc1").in_channels, 16 * 5 * 5);
  EXPECT_EQ(g.at("fc1").channel_key, "fc1");
  EXPECT_EQ(g.at("conv2").channel_key, "conv2");
  EXPECT_EQ(g.at("fc3").channel_key, "");
  EXPECT_EQ(g.consumers(3), (std::vector<int>{4}));  // pool1 → conv2
}

TEST(Graph, ResNetEqualsForward) {
  check_graph(arch("resnet", 1, 28, 10, 16));
  check_graph(arch("resnet", 1, 28, 18, 16));
  check_graph(arch("resnet", 3, 96, 10, 16));  // 7x7/2 stem + max-pool
  check_graph(arch("resnet", 3, 96, 18, 16));
  Architecture plain = arch("resnet", 3, 32, 10, 8);
  plain.use_batch_norm = false;
  check_graph(plain);
  Architecture bias = arch("resnet", 1, 28, 10, 8);
  bias.use_bias = true;
  bias.dropout = 0.5;  // not in the graph; inactive in eval
  check_graph(bias);
}

TEST(Graph, ResNet18DefaultWidthEqualsForward) { check_graph(arch("resnet", 1, 28, 18, 64), 1); }

TEST(Graph, ResNetLayout) {
  const Graph small = kiln::networks::create(arch("resnet", 1, 28, 18, 16))->graph();
  EXPECT_THROW(small.at("maxpool"), kiln::Error);
  EXPECT_EQ(small.at("conv1").kernel, 3);
  EXPECT_EQ(small.at("conv1").stride, 1);
  EXPECT_EQ(small.at("conv1").channel_key, "conv1");
  EXPECT_THROW(small.at("layer1.0.downsample.0"), kiln::Error);  // same width, stride 1: identity shortcut
  const Node& ds = small.at("layer2.0.downsample.0");
  EXPECT_EQ(ds.op, Op::Conv);
  EXPECT_EQ(ds.module, "layer2.0.downsample.0");
  EXPECT_EQ(ds.kernel, 1);
  EXPECT_EQ(ds.stride, 2);
  EXPECT_EQ(ds.channel_key, "layer2");
  EXPECT_EQ(small.at("layer2.0.downsample.1").op, Op::BatchNorm);
  EXPECT_EQ(small.at("layer2.0.downsample.1").module, "layer2.0.downsample.1");
  EXPECT_EQ(small.at("layer2.0.conv1").channel_key, "layer2.0.conv1");
  EXPECT_EQ(small.at("layer2.0.conv1").stride, 2);
  EXPECT_EQ(small.at("layer2.1.conv2").channel_key, "layer2");
  EXPECT_EQ(small.at("layer2.1.relu1").op, Op::Relu);
  // layer1.0.add sums bn2 and the block input (the stem's relu); layer2.0.add sums bn2 and the projection.
  const auto& g = small;
  auto index = [&](const std::string& name) { return static_cast<int>(&g.at(name) - g.nodes.data()); };
  EXPECT_EQ(inputs_named(g, "layer1.0.add"), (std::vector<int>{index("layer1.0.bn2"), index("relu")}));
  EXPECT_EQ(inputs_named(g, "layer2.0.add"), (std::vector<int>{index("layer2.0.bn2"), index("layer2.0.downsample.1")}));
  EXPECT_EQ(g.consumers(index("layer1.0.relu2")), (std::vector<int>{index("layer1.1.conv1"), index("layer1.1.add")}));
  EXPECT_EQ(g.at("fc").module, "fc");
  EXPECT_EQ(g.at("avgpool").op, Op::GlobalAvgPool);
  EXPECT_EQ(g.at("flatten").op, Op::Flatten);

  const Graph big = kiln::networks::create(arch("resnet", 3, 96, 18, 16))->graph();
  EXPECT_EQ(big.at("conv1").kernel, 7);
  EXPECT_EQ(big.at("conv1").stride, 2);
  const Node& pool = big.at("maxpool");
  EXPECT_EQ(pool.op, Op::MaxPool);
  EXPECT_EQ(pool.kernel, 3);
  EXPECT_EQ(pool.stride, 2);
  EXPECT_EQ(pool.padding, 1);
}

TEST(Graph, PrunedChannelsBuildAndEqualForward) {
  Architecture r = arch("resnet", 1, 28, 18, 64);
  r.channels["layer1"] = 24;  // the stem stays 64: layer1.0 now needs a projection shortcut
  r.channels["layer2.1.conv1"] = 7;
  check_graph(r, 1);
  const Graph rg = kiln::networks::create(r)->graph();
  EXPECT_EQ(rg.at("layer1.0.downsample.0").out_channels, 24);
  EXPECT_EQ(rg.at("layer1.1.conv2").out_channels, 24);
  EXPECT_EQ(rg.at("layer2.0.conv1").in_channels, 24);

  Architecture m = arch("mobilenet_v2", 1, 28);
  m.channels["features.3.expand"] = 50;
  m.channels["stage2"] = 20;
  m.channels["features.0"] = 12;
  check_graph(m);
  const Graph mg = kiln::networks::create(m)->graph();
  EXPECT_EQ(mg.at("features.3.conv.0.0").out_channels, 50);
  EXPECT_EQ(mg.at("features.3.conv.1.0").groups, 50);
  EXPECT_EQ(mg.at("features.3.conv.2").in_channels, 50);
  EXPECT_EQ(mg.at("features.3.conv.2").out_channels, 20);
  EXPECT_EQ(mg.at("features.2.conv.2").out_channels, 20);
  EXPECT_EQ(mg.at("features.1.conv.0.0").groups, 12);  // features.1's depthwise conv follows the stem
  EXPECT_EQ(mg.at("features.4.conv.0.0").in_channels, 20);
}

TEST(Graph, MobileNetV2EqualsForward) {
  check_graph(arch("mobilenet_v2", 1, 28));
  check_graph(arch("mobilenet_v2", 3, 96));
  Architecture plain = arch("mobilenet_v2", 3, 32);
  plain.use_batch_norm = false;
  plain.num_classes = 7;
  check_graph(plain);
  Architecture dropout = arch("mobilenet_v2", 1, 28);
  dropout.dropout = 0.2;
  dropout.use_bias = true;
  check_graph(dropout);
}

TEST(Graph, MobileNetV2Layout) {
  const Graph small = kiln::networks::create(arch("mobilenet_v2", 1, 28))->graph();
  const Graph big = kiln::networks::create(arch("mobilenet_v2", 3, 96))->graph();
  // Small inputs: stride-1 stem and stage 2; the rest as torchvision.
  EXPECT_EQ(small.at("features.0.0").stride, 1);
  EXPECT_EQ(big.at("features.0.0").stride, 2);
  EXPECT_EQ(small.at("features.2.conv.1.0").stride, 1);
  EXPECT_EQ(big.at("features.2.conv.1.0").stride, 2);
  EXPECT_EQ(small.at("features.4.conv.1.0").stride, 2);
  EXPECT_EQ(small.at("features.0.0").channel_key, "features.0");
  EXPECT_EQ(small.at("features.0.relu6").op, Op::Relu6);
  // t = 1 block: depthwise (conv.0) then project (conv.1, conv.2 its BN).
  const Node& dw1 = small.at("features.1.conv.0.0");
  EXPECT_EQ(dw1.groups, 32);
  EXPECT_EQ(dw1.in_channels, 32);
  EXPECT_EQ(dw1.out_channels, 32);
  EXPECT_EQ(dw1.kernel, 3);
  EXPECT_EQ(dw1.padding, 1);
  EXPECT_TRUE(dw1.channel_key.empty());
  EXPECT_EQ(small.at("features.1.conv.1").channel_key, "stage1");
  EXPECT_EQ(small.at("features.1.conv.2").op, Op::BatchNorm);
  // t = 6 blocks: expand (conv.0), depthwise (conv.1), project (conv.2, conv.3 its BN).
  const Node& expand = small.at("features.5.conv.0.0");
  EXPECT_EQ(expand.channel_key, "features.5.expand");
  EXPECT_EQ(expand.out_channels, 32 * 6);
  EXPECT_EQ(expand.kernel, 1);
  const Node& dw = small.at("features.5.conv.1.0");
  EXPECT_EQ(dw.groups, 192);
  EXPECT_TRUE(dw.channel_key.empty());
  EXPECT_EQ(small.at("features.5.conv.2").channel_key, "stage3");
  EXPECT_EQ(small.at("features.5.conv.3").op, Op::BatchNorm);
  EXPECT_EQ(small.at("features.18.0").channel_key, "features.18");
  EXPECT_EQ(small.at("features.18.0").out_channels, 1280);
  EXPECT_EQ(small.at("classifier.1").in_channels, 1280);
  // Residuals: every block after a stage's first; none on a stage's first block.
  for (const char* with : {"features.3.add", "features.5.add", "features.6.add", "features.8.add", "features.9.add",
                           "features.10.add",
                           "features.12.add", "features.13.add", "features.15.add", "features.16.add"})
    EXPECT_EQ(small.at(with).op, Op::Add) << with;
  int adds = 0;
  for (const Node& n : small.nodes) adds += n.op == Op::Add;
  EXPECT_EQ(adds, 10);  // 1 + 2 + 3 + 2 + 2, i.e. the blocks after the first of stages 2-6
  for (const char* without : {"features.1.add", "features.2.add", "features.4.add", "features.7.add",
                              "features.11.add", "features.14.add", "features.17.add"})
    EXPECT_THROW(small.at(without), kiln::Error) << without;
}

TEST(Graph, MissingOrMisshapedParametersNameTheNode) {
  Architecture with_bn = arch("lenet5", 1, 28), without_bn = with_bn;
  without_bn.use_batch_norm = false;
  const Graph g = kiln::networks::create(with_bn)->graph();
  auto plain = kiln::networks::create(without_bn);
  plain->eval();
  const at::Tensor x = at::randn({1, 1, 28, 28});
  try {
    kiln::networks::run_graph(g, *plain, x);
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("node 'bn1'"), std::string::npos) << what;
    EXPECT_NE(what.find("bn1.running_mean"), std::string::npos) << what;
  }

  Graph renamed = g;
  for (Node& n : renamed.nodes)
    if (n.name == "fc2") n.module = "head";
  auto net = kiln::networks::create(with_bn);
  net->eval();
  try {
    kiln::networks::run_graph(renamed, *net, x);
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("node 'fc2'"), std::string::npos) << what;
    EXPECT_NE(what.find("head.weight"), std::string::npos) << what;
  }

  // A graph of a pruned network against the unpruned one: the first mis-shaped weight is named with both shapes.
  Architecture pruned = arch("resnet", 1, 28, 10, 16);
  pruned.channels["layer1"] = 8;
  auto full = kiln::networks::create(arch("resnet", 1, 28, 10, 16));
  full->eval();
  try {
    kiln::networks::run_graph(kiln::networks::create(pruned)->graph(), *full, x);
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("node 'layer1.0.conv2'"), std::string::npos) << what;
    EXPECT_NE(what.find("[16, 16, 3, 3]"), std::string::npos) << what;
    EXPECT_NE(what.find("[8, 16, 3, 3]"), std::string::npos) << what;
  }

  // Wrong input channels; an op ATen rejects is reported with the node too.
  EXPECT_THROW(kiln::networks::run_graph(g, *net, at::randn({1, 3, 28, 28})), kiln::Error);
  try {
    kiln::networks::run_graph(g, *net, at::randn({1, 1, 20, 20}));  // fc1 then sees 16x3x3 features
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 'fc1'"), std::string::npos) << e.what();
  }
}

TEST(Graph, LookupsAndOpNames) {
  const Graph g = kiln::networks::create(arch("lenet5", 1, 28))->graph();
  try {
    g.at("conv9");
    FAIL();
  } catch (const kiln::Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv9"), std::string::npos);
  }
  EXPECT_EQ(g.consumers(g.output), std::vector<int>{});
  EXPECT_STREQ(kiln::networks::op_name(Op::Conv), "Conv");
  EXPECT_STREQ(kiln::networks::op_name(Op::Relu6), "Relu6");
  EXPECT_STREQ(kiln::networks::op_name(Op::GlobalAvgPool), "GlobalAvgPool");
}
