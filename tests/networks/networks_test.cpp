#include <ATen/ATen.h>
#include <gtest/gtest.h>

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
