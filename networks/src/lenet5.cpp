// LeNet5 (conv 6@5x5 pad 2, pool, conv 16@5x5, pool, fc 120-84-classes), the shape of bench/reference's model,
// generalised to any input size and optional batch norm after each conv.
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/dropout.h>

#include "graph_builder.h"
#include "layers.h"

namespace kiln::networks {
namespace F = torch::nn::functional;

class LeNet5 : public Network {
 public:
  explicit LeNet5(Architecture a) : arch_(std::move(a)) {
    const int64_t c1 = channels_of(arch_, "conv1", 6), c2 = channels_of(arch_, "conv2", 16);
    const int64_t f1 = channels_of(arch_, "fc1", 120), f2 = channels_of(arch_, "fc2", 84);
    const int64_t h = (arch_.height / 2 - 4) / 2, w = (arch_.width / 2 - 4) / 2;
    if (h < 1 || w < 1)
      throw UsageError("lenet5 needs an input of at least 12x12, got " + std::to_string(arch_.height) + "x" +
                       std::to_string(arch_.width));
    const bool bias = !arch_.use_batch_norm || arch_.use_bias;
    conv1_ = register_module("conv1", conv(arch_.in_channels, c1, 5, 1, 2, bias));
    conv2_ = register_module("conv2", conv(c1, c2, 5, 1, 0, bias));
    if (arch_.use_batch_norm) {
      bn1_ = register_module("bn1", torch::nn::BatchNorm2d(c1));
      bn2_ = register_module("bn2", torch::nn::BatchNorm2d(c2));
    }
    fc1_ = register_module("fc1", torch::nn::Linear(c2 * h * w, f1));
    fc2_ = register_module("fc2", torch::nn::Linear(f1, f2));
    fc3_ = register_module("fc3", torch::nn::Linear(f2, arch_.num_classes));
    if (arch_.dropout > 0) dropout_ = register_module("dropout", torch::nn::Dropout(arch_.dropout));
  }

  at::Tensor forward(at::Tensor x) override {
    x = conv1_(x);
    if (bn1_) x = bn1_(x);
    x = F::max_pool2d(x.relu_(), F::MaxPool2dFuncOptions(2));
    x = conv2_(x);
    if (bn2_) x = bn2_(x);
    x = F::max_pool2d(x.relu_(), F::MaxPool2dFuncOptions(2));
    x = fc2_(fc1_(x.flatten(1)).relu_()).relu_();
    if (dropout_) x = dropout_(x);
    return fc3_(x);
  }

  const Architecture& architecture() const override { return arch_; }
  int num_blocks() const override { return 4; }
  int block_of(const std::string& name) const override {
    static const std::pair<const char*, int> kBlocks[] = {{"conv1", 0}, {"bn1", 0}, {"conv2", 1}, {"bn2", 1},
                                                          {"fc1", 2},   {"fc2", 3}};
    for (const auto& [prefix, block] : kBlocks)
      if (name.rfind(std::string(prefix) + ".", 0) == 0) return block;
    return -1;
  }

  Graph graph() const override {
    GraphBuilder g(arch_);
    int x = g.conv("conv1", conv1_, kGraphInput, "conv1");
    if (bn1_) x = g.batch_norm("bn1", bn1_, x);
    x = g.max_pool("pool1", g.relu("relu1", x), 2, 2, 0);
    x = g.conv("conv2", conv2_, x, "conv2");
    if (bn2_) x = g.batch_norm("bn2", bn2_, x);
    x = g.max_pool("pool2", g.relu("relu2", x), 2, 2, 0);
    x = g.relu("relu3", g.linear("fc1", fc1_, g.flatten("flatten", x), "fc1"));
    x = g.relu("relu4", g.linear("fc2", fc2_, x, "fc2"));
    return g.finish(g.linear("fc3", fc3_, x, ""));  // the classifier: its outputs are the classes, never pruned
  }

 private:
  Architecture arch_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};

std::shared_ptr<Network> make_lenet5(Architecture arch) { return std::make_shared<LeNet5>(std::move(arch)); }

}  // namespace kiln::networks
