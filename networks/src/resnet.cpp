// ResNet-10/18/34 with BasicBlocks (torchvision's layout and parameter names). Inputs up to 64x64 get the
// small-input stem (3x3 stride 1, no max-pool, as bench/reference's ResNet-18); larger ones the 7x7/2 + pool stem.
// The blocks, stem and stages are shared with DetectNet_v2's backbone (resnet_blocks.h).
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include "graph_builder.h"
#include "layers.h"
#include "resnet_blocks.h"

namespace kiln::networks {

class ResNet : public Network {
 public:
  explicit ResNet(Architecture a) : arch_(std::move(a)) {
    small_input_ = arch_.height <= 64 && arch_.width <= 64;
    const auto counts = resnet::blocks_per_stage(arch_.n_layers);
    const int64_t stem = small_input_ ? stem_.build(*this, arch_, 3, 1, /*max_pool=*/false)
                                      : stem_.build(*this, arch_, 7, 2, /*max_pool=*/true);
    const int64_t out = stages_.build(*this, arch_, stem, counts, {1, 2, 2, 2});
    if (arch_.dropout > 0) dropout_ = register_module("dropout", torch::nn::Dropout(arch_.dropout));
    fc_ = register_module("fc", torch::nn::Linear(out, arch_.num_classes));
  }

  at::Tensor forward(at::Tensor x) override {
    x = stages_.forward(stem_.forward(x));
    x = x.mean({2, 3});
    if (dropout_) x = dropout_(x);
    return fc_(x);
  }

  const Architecture& architecture() const override { return arch_; }
  int num_blocks() const override { return 5; }
  int block_of(const std::string& name) const override { return resnet::block_of(name); }

  Graph graph() const override {
    GraphBuilder g(arch_);
    int x = stages_.graph(g, stem_.graph(g, kGraphInput));
    // forward's x.mean({2, 3}) is GlobalAvgPool (keepdim) + Flatten; dropout is omitted (eval).
    x = g.flatten("flatten", g.global_avg_pool("avgpool", x));
    return g.finish(g.linear("fc", fc_, x, ""));
  }

 private:
  Architecture arch_;
  bool small_input_ = true;
  resnet::Stem stem_;
  resnet::Stages stages_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

std::shared_ptr<Network> make_resnet(Architecture arch) { return std::make_shared<ResNet>(std::move(arch)); }

}  // namespace kiln::networks
