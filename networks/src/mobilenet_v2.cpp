// MobileNetV2 (Sandler et al., 2018) in torchvision's layout and parameter names: features.0 is the 3x3 conv-bn-relu6
// stem, features.1-17 the inverted residual blocks (features.N.conv.*), features.18 the 1x1 conv-bn-relu6 to 1280
// channels, then a global average pool and the classifier: classifier.0 is the dropout (an Identity when dropout is 0,
// so the Linear is always classifier.1, as in torchvision) and classifier.1 the Linear. Channel counts are plain ints
// (no width multiplier, no rounding to multiples of 8), so pruning can set any count.
//
// Small inputs (both sides <= 64, e.g. 28x28 Fashion-MNIST) get the stem with stride 1 and the first stride-2 stage
// (c=24) with stride 1, as the CIFAR variants of MobileNetV2 do: the total stride drops from 32 to 8, so a 28x28 input
// ends at 4x4 (7x7 at 64x64) instead of collapsing to 1x1 by stage 4 and losing most of the spatial detail.
//
// Channel keys (Architecture::channels): "features.0" (stem), "features.N.expand" (block N's expanded width, t != 1;
// its depthwise conv follows it), "stageK" (K = 1..7: the output of every block of stage K: the blocks after the first
// add a residual, so their outputs are tied) and "features.18" (the last conv). Default widths never depend on other
// keys (features.N.expand defaults to t × the stage's default input width), so one pruned layer leaves the rest as is.
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>

#include <string>
#include <vector>

#include "graph_builder.h"
#include "layers.h"

namespace kiln::networks {

namespace {

// Conv → BatchNorm (optional) → ReLU6: torchvision's Conv2dNormActivation, with the same child names (0, 1, 2).
class ConvBnReluImpl : public torch::nn::Module {
 public:
  ConvBnReluImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool bn, bool bias) {
    conv_ = register_module("0", conv(in, out, kernel, stride, (kernel - 1) / 2, !bn || bias, groups));
    if (bn) bn_ = register_module("1", torch::nn::BatchNorm2d(out));
    relu_ = register_module(bn ? "2" : "1", torch::nn::ReLU6());
  }

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = conv_(x);
    if (bn_) y = bn_(y);
    return relu_(y);
  }

  // Adds this module, named `name` ("features.0"), to g; `key` sets the conv's output channels ("" = fixed).
  int graph(GraphBuilder& g, const std::string& name, int input, const std::string& key) const {
    int y = g.conv(name + ".0", conv_, input, key);
    if (bn_) y = g.batch_norm(name + ".1", bn_, y);
    return g.relu6(name + ".relu6", y);
  }

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d bn_{nullptr};
  torch::nn::ReLU6 relu_{nullptr};
};
TORCH_MODULE(ConvBnRelu);

// [1x1 expand conv-bn-relu6 (t != 1)] → 3x3 depthwise conv-bn-relu6 → 1x1 project conv-bn (linear bottleneck),
// plus the input when `residual`. Children: conv.0, conv.1, … in that order (torchvision's InvertedResidual).
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t hidden, int64_t out, int64_t stride, bool expand, bool residual, bool bn,
                       bool bias)
      : residual_(residual) {
    if (!expand && hidden != in) throw Error("mobilenet_v2: a block without expansion must keep its input width");
    if (residual && (stride != 1 || in != out))
      throw Error("mobilenet_v2: a residual block needs stride 1 and as many output channels as input (" +
                  std::to_string(in) + " -> " + std::to_string(out) + ")");
    if (expand) {
      expand_ = ConvBnRelu(in, hidden, 1, 1, 1, bn, bias);
      layers_->push_back(expand_);
    }
    depthwise_ = ConvBnRelu(hidden, hidden, 3, stride, hidden, bn, bias);
    layers_->push_back(depthwise_);
    project_ = conv(hidden, out, 1, 1, 0, !bn || bias);
    layers_->push_back(project_);
    if (bn) {
      project_bn_ = torch::nn::BatchNorm2d(out);
      layers_->push_back(project_bn_);
    }
    register_module("conv", layers_);
  }

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = layers_->forward(x);
    return residual_ ? x + y : y;
  }

  // Adds this block, named `name` ("features.3"), to g; `stage_key` sets the project conv's output channels.
  int graph(GraphBuilder& g, const std::string& name, int input, const std::string& stage_key) const {
    const std::string c = name + ".conv.";
    int child = 0, y = input;
    if (expand_) y = expand_->graph(g, c + std::to_string(child++), y, name + ".expand");
    y = depthwise_->graph(g, c + std::to_string(child++), y, "");  // channels follow its input
    y = g.conv(c + std::to_string(child++), project_, y, stage_key);
    if (project_bn_) y = g.batch_norm(c + std::to_string(child++), project_bn_, y);
    return residual_ ? g.add(name + ".add", input, y) : y;
  }

 private:
  bool residual_;
  torch::nn::Sequential layers_;
  ConvBnRelu expand_{nullptr}, depthwise_{nullptr};
  torch::nn::Conv2d project_{nullptr};
  torch::nn::BatchNorm2d project_bn_{nullptr};
};
TORCH_MODULE(InvertedResidual);

struct StageSetting {
  int64_t t, c, n, s;  // expansion, output channels, blocks, stride of the first block
};
constexpr StageSetting kStages[] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
constexpr int kNumStages = sizeof(kStages) / sizeof(kStages[0]);

class MobileNetV2 : public Network {
 public:
  explicit MobileNetV2(Architecture a) : arch_(std::move(a)) {
    const bool bn = arch_.use_batch_norm, bias = arch_.use_bias;
    small_input_ = arch_.height <= 64 && arch_.width <= 64;
    int64_t in = channels_of(arch_, "features.0", 32), default_in = 32;
    stem_ = ConvBnRelu(arch_.in_channels, in, 3, small_input_ ? 1 : 2, 1, bn, bias);
    features_->push_back(stem_);
    for (int k = 0; k < kNumStages; ++k) {
      const StageSetting& st = kStages[k];
      const std::string stage_key = "stage" + std::to_string(k + 1);
      const int64_t out = channels_of(arch_, stage_key, st.c);
      for (int64_t i = 0; i < st.n; ++i) {
        const std::string name = "features." + std::to_string(blocks_.size() + 1);
        // Small inputs: stage 2 (the first with stride 2) keeps the resolution (see the top of the file).
        const int64_t stride = (i > 0 || (small_input_ && k == 1)) ? 1 : st.s;
        const bool expand = st.t != 1;
        const int64_t hidden = expand ? channels_of(arch_, name + ".expand", default_in * st.t) : in;
        // The residual follows the structure (every block after a stage's first), not the channel counts, so the
        // graph's topology is the same for any pruned widths; with the default widths this is torchvision's rule.
        blocks_.push_back(InvertedResidual(in, hidden, out, stride, expand, /*residual=*/i > 0, bn, bias));
        block_stage_.push_back(k + 1);
        features_->push_back(blocks_.back());
        in = out;
        default_in = st.c;
      }
    }
    last_name_ = "features." + std::to_string(blocks_.size() + 1);  // features.18
    const int64_t last = channels_of(arch_, last_name_, 1280);
    last_ = ConvBnRelu(in, last, 1, 1, 1, bn, bias);
    features_->push_back(last_);
    register_module("features", features_);
    if (arch_.dropout > 0)
      classifier_->push_back(torch::nn::Dropout(arch_.dropout));
    else
      classifier_->push_back(torch::nn::Identity());
    fc_ = torch::nn::Linear(last, arch_.num_classes);
    classifier_->push_back(fc_);
    register_module("classifier", classifier_);
  }

  at::Tensor forward(at::Tensor x) override {
    x = features_->forward(x);
    return classifier_->forward(x.mean({2, 3}));
  }

  const Architecture& architecture() const override { return arch_; }
  // 0 = stem, 1-7 = the stages of inverted residual blocks, 8 = the last 1x1 conv; the classifier is never frozen.
  int num_blocks() const override { return kNumStages + 2; }
  int block_of(const std::string& name) const override {
    const std::string prefix = "features.";
    if (name.rfind(prefix, 0) != 0) return -1;
    const size_t end = name.find('.', prefix.size());
    const std::string index = name.substr(prefix.size(), end == std::string::npos ? end : end - prefix.size());
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos || index.size() > 3) return -1;
    const size_t n = std::stoul(index);
    if (n == 0) return 0;
    if (n <= block_stage_.size()) return block_stage_[n - 1];
    if (n == block_stage_.size() + 1) return kNumStages + 1;
    return -1;
  }

  Graph graph() const override {
    GraphBuilder g(arch_);
    int x = stem_->graph(g, "features.0", kGraphInput, "features.0");
    for (size_t b = 0; b < blocks_.size(); ++b)
      x = blocks_[b]->graph(g, "features." + std::to_string(b + 1), x, "stage" + std::to_string(block_stage_[b]));
    x = last_->graph(g, last_name_, x, last_name_);
    // forward's x.mean({2, 3}) is GlobalAvgPool (keepdim) + Flatten; the dropout is omitted (eval).
    x = g.flatten("flatten", g.global_avg_pool("avgpool", x));
    return g.finish(g.linear("classifier.1", fc_, x, ""));
  }

 private:
  Architecture arch_;
  bool small_input_ = true;
  torch::nn::Sequential features_, classifier_;
  ConvBnRelu stem_{nullptr}, last_{nullptr};
  std::vector<InvertedResidual> blocks_;  // features.1 … features.17
  std::vector<int> block_stage_;          // stage (1-7) of each of blocks_
  std::string last_name_;
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<Network> make_mobilenet_v2(Architecture arch) {
  return std::make_shared<MobileNetV2>(std::move(arch));
}

}  // namespace kiln::networks
