// The ResNet pieces shared by resnet.cpp (the classifier) and detectnet_v2.cpp (its backbone): the BasicBlock, the
// stem (conv1, bn1, relu, optional max-pool) and the four stages layer1-4, in torchvision's layout and parameter
// names. Each piece registers its modules on the owning network under the same names (conv1, bn1, layerS.B.…) and
// describes itself to a GraphBuilder, so both networks' graphs and channel keys are built by the same code.
#pragma once
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <array>
#include <string>
#include <vector>

#include "graph_builder.h"
#include "kiln/common/error.h"
#include "layers.h"

namespace kiln::networks::resnet {

// conv-bn-relu-conv-bn + shortcut (1x1 projection when stride or channels change).
class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t mid, int64_t out, int64_t stride, bool bn, bool bias) {
    const bool conv_bias = !bn || bias;
    conv1_ = register_module("conv1", conv(in, mid, 3, stride, 1, conv_bias));
    if (bn) bn1_ = register_module("bn1", torch::nn::BatchNorm2d(mid));
    conv2_ = register_module("conv2", conv(mid, out, 3, 1, 1, conv_bias));
    if (bn) bn2_ = register_module("bn2", torch::nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      ds_conv_ = conv(in, out, 1, stride, 0, conv_bias);
      downsample_ = torch::nn::Sequential(ds_conv_);
      if (bn) {
        ds_bn_ = torch::nn::BatchNorm2d(out);
        downsample_->push_back(ds_bn_);
      }
      register_module("downsample", downsample_);
    }
  }

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = conv1_(x);
    if (bn1_) y = bn1_(y);
    y = conv2_(y.relu_());
    if (bn2_) y = bn2_(y);
    return (y + (downsample_ ? downsample_->forward(x) : x)).relu_();
  }

  // Adds this block, named `prefix` ("layer2.0"), to g; `stage_key` sets conv2's and the projection's channels.
  int graph(GraphBuilder& g, const std::string& prefix, int input, const std::string& stage_key) const {
    const std::string p = prefix + ".";
    int y = g.conv(p + "conv1", conv1_, input, p + "conv1");
    if (bn1_) y = g.batch_norm(p + "bn1", bn1_, y);
    y = g.conv(p + "conv2", conv2_, g.relu(p + "relu1", y), stage_key);
    if (bn2_) y = g.batch_norm(p + "bn2", bn2_, y);
    int shortcut = input;
    if (ds_conv_) {
      shortcut = g.conv(p + "downsample.0", ds_conv_, input, stage_key);
      if (ds_bn_) shortcut = g.batch_norm(p + "downsample.1", ds_bn_, shortcut);
    }
    return g.relu(p + "relu2", g.add(p + "add", y, shortcut));
  }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, ds_conv_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, ds_bn_{nullptr};
  torch::nn::Sequential downsample_{nullptr};  // ds_conv_, ds_bn_ (torchvision's names downsample.0, .1)
};
TORCH_MODULE(BasicBlock);

// Blocks per stage of ResNet-10/18/34; `who` ("resnet", "detectnet_v2") and `key` name the network and its setting in
// the UsageError for any other depth.
inline std::array<int, 4> blocks_per_stage(int n_layers, const std::string& who = "resnet",
                                           const std::string& key = "n_layers") {
  switch (n_layers) {
    case 10: return {1, 1, 1, 1};
    case 18: return {2, 2, 2, 2};
    case 34: return {3, 4, 6, 3};
    default:
      throw UsageError(who + " " + key + " must be 10, 18 or 34, got " + std::to_string(n_layers));
  }
}

// conv1 → bn1 → relu → [maxpool 3/2/1]. Channel key "conv1".
class Stem {
 public:
  // Registers conv1 (kernel k, stride s, padding k/2) and bn1 on `owner`; returns the stem's output channels.
  int64_t build(torch::nn::Module& owner, Architecture& a, int64_t kernel, int64_t stride, bool max_pool) {
    const bool bias = !a.use_batch_norm || a.use_bias;
    const int64_t out = channels_of(a, "conv1", a.base_width);
    conv1_ = owner.register_module("conv1", conv(a.in_channels, out, kernel, stride, kernel / 2, bias));
    if (a.use_batch_norm) bn1_ = owner.register_module("bn1", torch::nn::BatchNorm2d(out));
    max_pool_ = max_pool;
    return out;
  }

  at::Tensor forward(at::Tensor x) {
    x = conv1_(x);
    if (bn1_) x = bn1_(x);
    x.relu_();
    if (max_pool_)
      x = torch::nn::functional::max_pool2d(
          x, torch::nn::functional::MaxPool2dFuncOptions(kPool).stride(kPoolStride).padding(kPoolPad));
    return x;
  }

  int graph(GraphBuilder& g, int input) const {
    int x = g.conv("conv1", conv1_, input, "conv1");
    if (bn1_) x = g.batch_norm("bn1", bn1_, x);
    x = g.relu("relu", x);
    if (max_pool_) x = g.max_pool("maxpool", x, kPool, kPoolStride, kPoolPad);
    return x;
  }

  // Total stride of the stem (conv1's stride × 2 with the max-pool).
  int64_t stride() const { return conv1_->options.stride()->at(0) * (max_pool_ ? kPoolStride : 1); }

 private:
  static constexpr int64_t kPool = 3, kPoolStride = 2, kPoolPad = 1;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  bool max_pool_ = false;
};

// layer1 … layer4 of BasicBlocks; stage s (0-based) has base_width << s channels (keys "layerS" for the stage's
// output and "layerS.B.conv1" for each block's inner conv) and its first block has stride strides[s].
class Stages {
 public:
  // Registers layer1-4 on `owner`, after the stem's `in` channels; returns the output channels of layer4.
  int64_t build(torch::nn::Module& owner, Architecture& a, int64_t in, const std::array<int, 4>& counts,
                const std::array<int64_t, 4>& strides) {
    for (int s = 0; s < 4; ++s) {
      const std::string stage = "layer" + std::to_string(s + 1);
      const int64_t out = channels_of(a, stage, int64_t{a.base_width} << s);
      torch::nn::Sequential seq;
      blocks_.emplace_back();
      for (int b = 0; b < counts[s]; ++b) {
        const int64_t mid = channels_of(a, stage + "." + std::to_string(b) + ".conv1", int64_t{a.base_width} << s);
        blocks_.back().push_back(
            BasicBlock(in, mid, out, b == 0 ? strides[s] : 1, a.use_batch_norm, a.use_bias));
        seq->push_back(blocks_.back().back());
        in = out;
      }
      stages_.push_back(owner.register_module(stage, seq));
    }
    for (int64_t s : strides) stride_ *= s;
    return in;
  }

  at::Tensor forward(at::Tensor x) {
    for (auto& stage : stages_) x = stage->forward(x);
    return x;
  }

  int graph(GraphBuilder& g, int x) const {
    for (size_t s = 0; s < blocks_.size(); ++s) {
      const std::string stage = "layer" + std::to_string(s + 1);
      for (size_t b = 0; b < blocks_[s].size(); ++b)
        x = blocks_[s][b]->graph(g, stage + "." + std::to_string(b), x, stage);
    }
    return x;
  }

  int64_t stride() const { return stride_; }  // product of the stages' strides

 private:
  std::vector<torch::nn::Sequential> stages_;
  std::vector<std::vector<BasicBlock>> blocks_;  // the blocks of stages_, typed (for graph())
  int64_t stride_ = 1;
};

// Freeze-block index of a parameter of a network built from Stem + Stages: 0 = stem, S = layerS, -1 otherwise.
inline int block_of(const std::string& name) {
  if (name.rfind("conv1.", 0) == 0 || name.rfind("bn1.", 0) == 0) return 0;
  if (name.rfind("layer", 0) == 0 && name.size() > 6 && name[5] >= '1' && name[5] <= '4' && name[6] == '.')
    return name[5] - '0';
  return -1;
}

}  // namespace kiln::networks::resnet
