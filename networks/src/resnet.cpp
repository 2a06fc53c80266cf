// ResNet-10/18/34 with BasicBlocks (torchvision's layout and parameter names). Inputs up to 64x64 get the
// small-input stem (3x3 stride 1, no max-pool, as in shared/reference's ResNet-18); larger ones the 7x7/2 + pool stem.
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>

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
      downsample_ = torch::nn::Sequential(conv(in, out, 1, stride, 0, conv_bias));
      if (bn) downsample_->push_back(torch::nn::BatchNorm2d(out));
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

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
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
      for (int b = 0; b < counts[s]; ++b) {
        const int64_t mid = channels_of(arch_, stage + "." + std::to_string(b) + ".conv1", int64_t{arch_.base_width} << s);
        seq->push_back(BasicBlock(in, mid, out, (b == 0 && s > 0) ? 2 : 1, bn, arch_.use_bias));
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
    if (!small_input_) x = F::max_pool2d(x, F::MaxPool2dFuncOptions(3).stride(2).padding(1));
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

 private:
  Architecture arch_;
  bool small_input_ = true;
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> stages_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

std::shared_ptr<Network> make_resnet(Architecture arch) { return std::make_shared<ResNet>(std::move(arch)); }

}  // namespace kiln::networks
