// The pruner against networks whose dead channels are known: channels whose filters (and batch-norm scale/shift) are
// zero in every layer of their group carry exact zeros through the network, so removing them must leave the logits
// unchanged. Channels are killed per group, with a different set for every group, so a tie the pruner missed (two
// layers added together but pruned apart) changes the output and fails the test.
#include "kiln/runtime/prune.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "kiln/common/error.h"
#include "kiln/networks/graph.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/model_file.h"
#include "support/bn_stats.h"

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;
using networks::Architecture;

std::shared_ptr<networks::Network> make(const std::string& arch_name, int n_layers = 18, int width = 64, int c = 1,
                                        int hw = 28) {
  Architecture a;
  a.arch = arch_name;
  a.n_layers = n_layers;
  a.base_width = width;
  a.in_channels = c;
  a.height = a.width = hw;
  torch::manual_seed(7);
  auto net = networks::create(a);
  // Non-trivial batch-norm statistics, so eval mode is not the identity.
  EXPECT_GT(test_support::randomise_batch_norms(*net, 7), 0);
  net->eval();
  return net;
}

at::Tensor param(networks::Network& net, const std::string& name) {
  for (auto& p : net.named_parameters())
    if (p.key() == name) return p.value();
  return {};
}

// Zeroes channels `dead` of every layer in `group`: producers' filters and biases, depthwise filters, BN scale/shift.
void kill(networks::Network& net, const networks::Graph& g, const ChannelGroup& group, const std::vector<int64_t>& dead) {
  torch::NoGradGuard no_grad;
  const auto idx = torch::tensor(dead, torch::kLong);
  for (int i : group.members) {
    const auto& n = g.nodes[static_cast<size_t>(i)];
    if (n.module.empty()) continue;
    for (const char* s : {".weight", ".bias"})
      if (auto t = param(net, n.module + s); t.defined()) t.index_fill_(0, idx, 0.0);
  }
}

// Kills a different channel set in every prunable group; returns the channels left, by channel key.
std::map<std::string, int64_t> kill_some(networks::Network& net, int every) {
  const auto g = net.graph();
  const auto groups = channel_groups(g);
  std::map<std::string, int64_t> alive;
  int salt = 0;
  for (const auto& group : groups.groups) {
    if (!group.fixed.empty() || group.producers.empty()) continue;
    std::vector<int64_t> dead;
    for (int64_t c = 0; c < group.channels; ++c)
      if ((c + salt) % every == 0) dead.push_back(c);
    ++salt;
    kill(net, g, group, dead);
    for (int p : group.producers)
      alive[g.nodes[static_cast<size_t>(p)].channel_key] = group.channels - static_cast<int64_t>(dead.size());
  }
  return alive;
}

void expect_same_logits(networks::Network& a, networks::Network& b, int c, int hw) {
  a.eval();
  b.eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({3, c, hw, hw});
  const auto ya = a.forward(x), yb = b.forward(x);
  EXPECT_LT((ya - yb).abs().max().item<double>(), 1e-4)
      << "pruning dead channels changed the logits (largest |logit| " << ya.abs().max().item<double>() << ")";
}

PruneOptions exact(double threshold = 1e-6) {
  PruneOptions o;
  o.threshold = threshold;  // only the dead (zero-norm) channels fall below
  o.min_num_filters = 1;
  o.granularity = 1;
  return o;
}

TEST(SelectChannels, ThresholdMinimumAndGranularity) {
  PruneOptions o;
  o.threshold = 0.5;
  o.min_num_filters = 1;
  o.granularity = 1;
  EXPECT_EQ(select_channels({0.9, 0.1, 0.6, 0.4, 1.0}, o), (std::vector<int64_t>{0, 2, 4}));
  o.min_num_filters = 4;  // the best four, in index order
  EXPECT_EQ(select_channels({0.9, 0.1, 0.6, 0.4, 1.0}, o), (std::vector<int64_t>{0, 2, 3, 4}));
  o.min_num_filters = 16;  // more than the layer has: all of them
  EXPECT_EQ(select_channels({0.9, 0.1}, o).size(), 2u);
  o.min_num_filters = 1;
  o.granularity = 4;  // 3 above the threshold, rounded up to 4 with the next best (0.4 at index 3)
  EXPECT_EQ(select_channels({0.9, 0.1, 0.6, 0.4, 1.0, 0.05, 0.2, 0.3}, o), (std::vector<int64_t>{0, 2, 3, 4}));
  o.granularity = 8;  // rounding up past the layer's size keeps all
  EXPECT_EQ(select_channels({0.9, 0.1, 0.6}, o).size(), 3u);
  o.threshold = 1.0;  // nothing is above 1: the minimum decides
  o.granularity = 1;
  o.min_num_filters = 2;
  EXPECT_EQ(select_channels({0.9, 0.1, 1.0}, o), (std::vector<int64_t>{0, 2}));
}

TEST(Prune, LeNet5DeadChannelsGoAndTheLogitsStay) {
  auto net = make("lenet5");
  const auto alive = kill_some(*net, 3);
  const auto r = prune_network(*net, exact());
  EXPECT_EQ(r.net->architecture().channels.at("conv1"), alive.at("conv1"));
  EXPECT_EQ(r.net->architecture().channels.at("conv2"), alive.at("conv2"));
  EXPECT_EQ(r.net->architecture().channels.at("fc1"), alive.at("fc1"));  // fc2's inputs shrink with it
  EXPECT_LT(r.params_after, r.params_before);
  expect_same_logits(*net, *r.net, 1, 28);
}

TEST(Prune, ResNetResidualTiesPruneAsOne) {
  auto net = make("resnet", 10, 16);
  const auto alive = kill_some(*net, 4);
  const auto r = prune_network(*net, exact());
  const auto& ch = r.net->architecture().channels;
  // The stem and every block of stage 1 are added together (no projection in layer1): one group, one width.
  EXPECT_EQ(ch.at("conv1"), ch.at("layer1"));
  EXPECT_EQ(ch.at("layer1"), alive.at("conv1"));
  EXPECT_EQ(ch.at("layer1.0.conv1"), alive.at("layer1.0.conv1"));
  EXPECT_EQ(ch.at("layer2"), alive.at("layer2"));
  EXPECT_LT(ch.at("layer2"), 32);
  expect_same_logits(*net, *r.net, 1, 28);
  // The classifier's outputs are the classes: never pruned.
  EXPECT_EQ(r.net->architecture().num_classes, 10);
  bool saw_fixed_output = false;
  for (const auto& g : r.groups) saw_fixed_output |= g.status == "fixed: network output";
  EXPECT_TRUE(saw_fixed_output) << r.table();
}

TEST(Prune, OnlyLayersThatGetNarrowerAreCalledPruned) {
  // Nothing to remove: every scored layer keeps its width and is "kept" ("6 -> 6 pruned" was the defect).
  auto whole = make("resnet", 10, 16);
  const auto same = prune_network(*whole, exact());
  int kept = 0;
  for (const auto& g : same.groups) {
    EXPECT_NE(g.status, "pruned") << same.table();
    if (g.status != "kept") continue;
    EXPECT_EQ(g.after, g.before) << same.table();
    ++kept;
  }
  EXPECT_GT(kept, 0) << same.table();
  // Dead channels everywhere: every scored layer gets narrower and is "pruned".
  auto net = make("resnet", 10, 16);
  kill_some(*net, 4);
  const auto r = prune_network(*net, exact());
  int pruned = 0;
  for (const auto& g : r.groups) {
    EXPECT_NE(g.status, "kept") << r.table();
    if (g.status != "pruned") continue;
    EXPECT_LT(g.after, g.before) << r.table();
    ++pruned;
  }
  EXPECT_GT(pruned, 0) << r.table();
}

TEST(Prune, ResNetLargeInputStemWithPool) {
  auto net = make("resnet", 18, 8, 3, 96);
  kill_some(*net, 3);
  const auto r = prune_network(*net, exact());
  expect_same_logits(*net, *r.net, 3, 96);
}

TEST(Prune, MobileNetV2DepthwiseFollowsItsExpansion) {
  auto net = make("mobilenet_v2");
  const auto alive = kill_some(*net, 5);
  const auto r = prune_network(*net, exact());
  const auto& ch = r.net->architecture().channels;
  EXPECT_EQ(ch.at("features.2.expand"), alive.at("features.2.expand"));
  EXPECT_LT(ch.at("features.2.expand"), 96);
  EXPECT_EQ(ch.at("stage2"), alive.at("stage2"));
  expect_same_logits(*net, *r.net, 1, 28);
  EXPECT_LT(r.ratio(), 0.9);
}

TEST(Prune, EqualizationDecidesTiedLayers) {
  // Two tied layers disagree on a channel: union keeps it if either wants it, intersection only if both do.
  auto net = make("resnet", 10, 16);
  {
    torch::NoGradGuard no_grad;
    param(*net, "layer1.0.conv2.weight").index_fill_(0, torch::tensor({3}, torch::kLong), 0.0);
  }
  auto o = exact(0.05);
  o.equalization = "union";
  auto r = prune_network(*net, o);
  const int64_t union_width = r.net->architecture().channels.at("layer1");
  o.equalization = "intersection";
  r = prune_network(*net, o);
  EXPECT_EQ(r.net->architecture().channels.at("layer1"), union_width - 1);
}

TEST(Prune, ExcludedLayersKeepTheirGroupWhole) {
  auto net = make("resnet", 10, 16);
  kill_some(*net, 2);
  auto o = exact();
  o.excluded = {"layer2.0.conv1"};
  const auto r = prune_network(*net, o);
  EXPECT_EQ(r.net->architecture().channels.at("layer2.0.conv1"), 32);
  EXPECT_LT(r.net->architecture().channels.at("layer2"), 32);
  o.excluded = {"layer9.conv"};
  try {
    prune_network(*net, o);
    FAIL() << "an unknown layer must be refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("no layer named 'layer9.conv'"), std::string::npos) << e.what();
  }
}

TEST(Prune, OptionsOutOfRangeAreUsageErrors) {
  auto net = make("lenet5");
  for (auto bad : std::vector<std::function<void(PruneOptions&)>>{
           [](PruneOptions& o) { o.threshold = 1.5; }, [](PruneOptions& o) { o.threshold = -0.1; },
           [](PruneOptions& o) { o.min_num_filters = 0; }, [](PruneOptions& o) { o.granularity = 0; },
           [](PruneOptions& o) { o.normalizer = "L1"; }, [](PruneOptions& o) { o.equalization = "mean"; }}) {
    PruneOptions o;
    bad(o);
    EXPECT_THROW(prune_network(*net, o), UsageError);
  }
}

TEST(Prune, PrunedModelFileRebuildsWithoutTheSpec) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_prune_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto net = make("resnet", 10, 16);
  kill_some(*net, 3);
  ModelFile f;
  f.meta["kind"] = "model";
  f.meta["architecture"] = net->architecture().to_json();
  f.meta["class_names"] = std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  put_module_state(*net, f);
  write_model_file((dir / "model.kiln").string(), f);

  PruneTaskOptions t;
  t.model_path = (dir / "model.kiln").string();
  t.output_path = (dir / "out" / "pruned.kiln").string();
  t.prune = exact();
  ASSERT_NO_THROW(run_prune(t));
  LoadedModel loaded = load_model(t.output_path);
  EXPECT_LT(networks::count_parameters(*loaded.net), networks::count_parameters(*net));
  EXPECT_EQ(loaded.class_names.size(), 10u);
  expect_same_logits(*net, *loaded.net, 1, 28);
  EXPECT_TRUE(fs::exists(dir / "out" / "status.json"));

  // A threshold out of range fails before anything is written.
  t.output_path = (dir / "out" / "bad.kiln").string();
  t.prune.threshold = 2;
  EXPECT_THROW(run_prune(t), UsageError);
  EXPECT_FALSE(fs::exists(t.output_path));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::runtime
