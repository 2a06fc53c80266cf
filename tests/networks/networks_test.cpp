#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "kiln/common/error.h"
#include "kiln/networks/network.h"

using kiln::networks::Architecture;

namespace {
Architecture arch(const std::string& name, int layers = 18, int width = 64) {
  Architecture a;
  a.arch = name;
  a.n_layers = layers;
  a.base_width = width;
  return a;
}
}  // namespace

TEST(Networks, RegistryKnowsBuiltins) {
  const auto names = kiln::networks::network_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "lenet5"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "resnet"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "mobilenet_v2"), names.end());
  try {
    kiln::networks::create(arch("vgg"));
    FAIL();
  } catch (const kiln::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown network arch 'vgg'"), std::string::npos);
  }
}

TEST(Networks, LeNet5MatchesTheReferenceShape) {
  Architecture a = arch("lenet5");
  a.use_batch_norm = false;
  auto net = kiln::networks::create(a);
  // conv 1→6 5x5 (156) + conv 6→16 5x5 (2416) + fc 400→120 (48120) + 120→84 (10164) + 84→10 (850)
  EXPECT_EQ(kiln::networks::count_parameters(*net), 61706);
  EXPECT_EQ(net->forward(at::randn({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(net->architecture().channels.at("conv2"), 16);
  EXPECT_EQ(net->block_of("conv2.weight"), 1);
  EXPECT_EQ(net->block_of("fc3.weight"), -1);
}

TEST(Networks, ResNet18MatchesTorchvisionWithSmallStem) {
  // torchvision resnet18(num_classes=10) with a 1-channel 3x3 stem: 11,172,810 parameters.
  auto net = kiln::networks::create(arch("resnet", 18));
  EXPECT_EQ(kiln::networks::count_parameters(*net), 11172810);
  EXPECT_EQ(net->forward(at::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  std::vector<std::string> names;
  for (const auto& p : net->named_parameters()) names.push_back(p.key());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer2.0.downsample.0.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer4.1.bn2.bias"), names.end());
  EXPECT_EQ(net->block_of("layer3.1.conv1.weight"), 3);
  EXPECT_EQ(net->block_of("bn1.weight"), 0);
}

TEST(Networks, ResNetDepthsAndWidth) {
  EXPECT_LT(kiln::networks::count_parameters(*kiln::networks::create(arch("resnet", 10))),
            kiln::networks::count_parameters(*kiln::networks::create(arch("resnet", 18))));
  EXPECT_GT(kiln::networks::count_parameters(*kiln::networks::create(arch("resnet", 34))), 21000000);
  auto narrow = kiln::networks::create(arch("resnet", 10, 16));
  EXPECT_EQ(narrow->architecture().channels.at("layer4"), 128);
  EXPECT_THROW(kiln::networks::create(arch("resnet", 50)), kiln::UsageError);
  // Larger inputs get the 7x7/2 stem + max-pool and still produce logits.
  Architecture big = arch("resnet", 10, 8);
  big.in_channels = 3, big.height = 96, big.width = 96;
  EXPECT_EQ(kiln::networks::create(big)->forward(at::randn({1, 3, 96, 96})).sizes(), (std::vector<int64_t>{1, 10}));
}

TEST(Networks, ArchitectureRebuildsPrunedChannels) {
  Architecture a = arch("resnet", 10, 16);
  a.channels["layer1.0.conv1"] = 5;  // as if pruned
  auto net = kiln::networks::create(a);
  const auto round = Architecture::from_json(net->architecture().to_json());
  EXPECT_EQ(round.channels.at("layer1.0.conv1"), 5);
  auto rebuilt = kiln::networks::create(round);
  EXPECT_EQ(kiln::networks::count_parameters(*rebuilt), kiln::networks::count_parameters(*net));
  EXPECT_THROW(Architecture::from_json(nlohmann::json{{"arch", "resnet"}}), kiln::DataError);
}

TEST(Networks, MobileNetV2MatchesTorchvision) {
  // torchvision mobilenet_v2(num_classes=1000): 3,504,872 parameters, with the same names.
  Architecture a = arch("mobilenet_v2");
  a.in_channels = 3, a.height = 224, a.width = 224, a.num_classes = 1000;
  auto net = kiln::networks::create(a);
  EXPECT_EQ(kiln::networks::count_parameters(*net), 3504872);
  std::vector<std::string> names;
  for (const auto& p : net->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names.size(), 158u);
  for (const char* name : {"features.0.0.weight", "features.0.1.bias", "features.1.conv.0.0.weight",
                           "features.1.conv.1.weight", "features.1.conv.2.weight", "features.2.conv.0.0.weight",
                           "features.2.conv.1.1.weight", "features.17.conv.3.bias", "features.18.0.weight",
                           "features.18.1.bias", "classifier.1.weight", "classifier.1.bias"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  EXPECT_EQ(net->forward(at::randn({1, 3, 64, 64})).sizes(), (std::vector<int64_t>{1, 1000}));
  EXPECT_EQ(net->architecture().channels.at("features.2.expand"), 96);
  EXPECT_EQ(net->architecture().channels.at("features.4.expand"), 144);
  EXPECT_EQ(net->architecture().channels.at("stage7"), 320);
  EXPECT_EQ(net->architecture().channels.at("features.18"), 1280);
  EXPECT_EQ(net->architecture().channels.count("features.1.expand"), 0u);  // t = 1: no expansion
}

TEST(Networks, MobileNetV2FreezeBlocks) {
  auto net = kiln::networks::create(arch("mobilenet_v2"));  // 1x28x28, 10 classes
  EXPECT_EQ(net->num_blocks(), 9);
  EXPECT_EQ(net->block_of("features.0.0.weight"), 0);
  EXPECT_EQ(net->block_of("features.1.conv.0.1.weight"), 1);
  EXPECT_EQ(net->block_of("features.2.conv.0.0.weight"), 2);
  EXPECT_EQ(net->block_of("features.3.conv.3.bias"), 2);
  EXPECT_EQ(net->block_of("features.4.conv.2.weight"), 3);
  EXPECT_EQ(net->block_of("features.10.conv.2.weight"), 4);
  EXPECT_EQ(net->block_of("features.13.conv.2.weight"), 5);
  EXPECT_EQ(net->block_of("features.16.conv.2.weight"), 6);
  EXPECT_EQ(net->block_of("features.17.conv.2.weight"), 7);
  EXPECT_EQ(net->block_of("features.18.1.weight"), 8);
  EXPECT_EQ(net->block_of("classifier.1.weight"), -1);
  std::set<int> blocks;
  for (const auto& p : net->named_parameters()) blocks.insert(net->block_of(p.key()));
  EXPECT_EQ(blocks, (std::set<int>{-1, 0, 1, 2, 3, 4, 5, 6, 7, 8}));
  // Dropout sits at classifier.0 without parameters; the classifier's Linear stays classifier.1.
  Architecture d = arch("mobilenet_v2");
  d.dropout = 0.2;
  auto with_dropout = kiln::networks::create(d);
  EXPECT_EQ(kiln::networks::count_parameters(*with_dropout), kiln::networks::count_parameters(*net));
  EXPECT_EQ(with_dropout->forward(at::randn({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_THROW(kiln::networks::create([] {
                 Architecture bad = arch("mobilenet_v2");
                 bad.channels["stage3"] = 0;
                 return bad;
               }()),
               kiln::UsageError);
}

TEST(Networks, MobileNetV2TrainsEveryParameter) {
  Architecture a = arch("mobilenet_v2");
  a.dropout = 0.2;
  auto net = kiln::networks::create(a);
  net->train();
  net->forward(at::randn({4, 1, 28, 28})).logsumexp(1).sum().backward();
  for (const auto& p : net->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key();
  }
}
