// ResNet-10/18/34 with BasicBlocks (torchvision's layout and parameter names). Inputs up to 64x64 get the
// small-input stem (3x3 stride 1, no max-pool, as in shared/reference's ResNet-18); larger ones the 7x7/2 + pool stem.
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>

#include "graph_builder.h"
#include "layers.h"

namespace kiln::networks {
namespace F = torch::nn::functional;

namespace {

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

std::vector<int> blocks_per_stage(int n_layers) {
  switch (n_layers) {
    case 10: return {1, 1, 1, 1};
    case 18: return {2, 2, 2, 2};
    case 34: return {3, 4, 6, 3};
    default: throw UsageError("resnet n_layers must be 10, 18 or 34, got " + std::to_string(n_layers));
  }
}

}  // namespace

class ResNet : public Network {
 public:
  explicit ResNet(Architecture a) : arch_(std::move(a)) {
    const bool bn = arch_.use_batch_norm, bias = !bn || arch_.use_bias;
    small_input_ = arch_.height <= 64 && arch_.width <= 64;
    int64_t in = channels_of(arch_, "conv1", arch_.base_width);
    conv1_ = register_module("conv1", small_input_ ? conv(arch_.in_channels, in, 3, 1, 1, bias)
                                                   : conv(arch_.in_channels, in, 7, 2, 3, bias));
    if (bn) bn1_ = register_module("bn1", torch::nn::BatchNorm2d(in));
    const auto counts = blocks_per_stage(arch_.n_layers);
    for (int s = 0; s < 4; ++s) {
      const std::string stage = "layer" + std::to_string(s + 1);
      const int64_t out = channels_of(arch_, stage, int64_t{arch_.base_width} << s);
      torch::nn::Sequential seq;
      blocks_.emplace_back();
      for (int b = 0; b < counts[s]; ++b) {
        const int64_t mid = channels_of(arch_, stage + "." + std::to_string(b) + ".conv1", int64_t{arch_.base_width} << s);
        blocks_.back().push_back(BasicBlock(in, mid, out, (b == 0 && s > 0) ? 2 : 1, bn, arch_.use_bias));
        seq->push_back(blocks_.back().back());
        in = out;
      }
      stages_.push_back(register_module(stage, seq));
    }
    if (arch_.dropout > 0) dropout_ = register_module("dropout", torch::nn::Dropout(arch_.dropout));
    fc_ = register_module("fc", torch::nn::Linear(in, arch_.num_classes));
  }

  at::Tensor forward(at::Tensor x) override {
    x = conv1_(x);
    if (bn1_) x = bn1_(x);
    x.relu_();
    if (!small_input_) x = F::max_pool2d(x, F::MaxPool2dFuncOptions(kPool).stride(kPoolStride).padding(kPoolPad));
    for (auto& stage : stages_) x = stage->forward(x);
    x = x.mean({2, 3});
    if (dropout_) x = dropout_(x);
    return fc_(x);
  }

  const Architecture& architecture() const override { return arch_; }
  int num_blocks() const override { return 5; }
  int block_of(const std::string& name) const override {
    if (name.rfind("conv1.", 0) == 0 || name.rfind("bn1.", 0) == 0) return 0;
    if (name.rfind("layer", 0) == 0 && name.size() > 5) return name[5] - '0';
    return -1;
  }

  Graph graph() const override {
    GraphBuilder g(arch_);
    int x = g.conv("conv1", conv1_, kGraphInput, "conv1");
    if (bn1_) x = g.batch_norm("bn1", bn1_, x);
    x = g.relu("relu", x);
    if (!small_input_) x = g.max_pool("maxpool", x, kPool, kPoolStride, kPoolPad);
    for (size_t s = 0; s < blocks_.size(); ++s) {
      const std::string stage = "layer" + std::to_string(s + 1);
      for (size_t b = 0; b < blocks_[s].size(); ++b)
        x = blocks_[s][b]->graph(g, stage + "." + std::to_string(b), x, stage);
    }
    // forward's x.mean({2, 3}) is GlobalAvgPool (keepdim) + Flatten; dropout is omitted (eval).
    x = g.flatten("flatten", g.global_avg_pool("avgpool", x));
    return g.finish(g.linear("fc", fc_, x, ""));
  }

 private:
  static constexpr int64_t kPool = 3, kPoolStride = 2, kPoolPad = 1;  // the large-input stem's max-pool
  Architecture arch_;
  bool small_input_ = true;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  std::vector<std::vector<BasicBlock>> blocks_;  // the blocks of stages_, typed (for graph())
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

std::shared_ptr<Network> make_resnet(Architecture arch) { return std::make_shared<ResNet>(std::move(arch)); }

}  // namespace kiln::networks
