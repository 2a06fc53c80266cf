// DetectNet_v2: ResNet backbone at stride 16 or 8 and the output_cov / output_bbox heads (detectnet_v2.h).
#include "kiln/networks/detectnet_v2.h"

#include <ATen/ops/cat.h>
#include <torch/nn/modules/dropout.h>

#include <sstream>

#include "graph_builder.h"
#include "kiln/common/error.h"
#include "layers.h"
#include "resnet_blocks.h"

namespace kiln::networks {

namespace {

constexpr const char* kArch = "detectnet_v2";

std::string shape_of(const at::Tensor& x) {
  std::ostringstream os;
  os << x.sizes();
  return os.str();
}

// Every check that does not need the modules, before any is built.
void validate(const Architecture& a) {
  const std::string who = kArch;
  resnet::blocks_per_stage(a.n_layers, who, "num_layers");
  if (a.output_stride != 16 && a.output_stride != 8)
    throw UsageError(who + " output stride must be 16 or 8, got " + std::to_string(a.output_stride));
  if (a.in_channels != 1 && a.in_channels != 3)
    throw UsageError(who + " input channels must be 1 or 3, got " + std::to_string(a.in_channels));
  if (a.height < 1 || a.width < 1 || a.height % a.output_stride != 0 || a.width % a.output_stride != 0)
    throw UsageError(who + " input height and width must be positive multiples of the output stride " +
                     std::to_string(a.output_stride) + ", got " + std::to_string(a.height) + "x" +
                     std::to_string(a.width));
  if (a.num_classes < 1) throw UsageError(who + " needs at least one class, got " + std::to_string(a.num_classes));
  if (a.base_width < 1) throw UsageError(who + " width must be positive, got " + std::to_string(a.base_width));
  if (!(a.dropout >= 0.0 && a.dropout < 1.0))
    throw UsageError(who + " dropout must be in [0, 1), got " + std::to_string(a.dropout));
}

}  // namespace

struct DetectNetV2::Impl {
  resnet::Stem stem;
  resnet::Stages stages;
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Conv2d cov{nullptr}, bbox{nullptr};
};

Architecture detectnet_v2_architecture(int num_classes, int num_layers, int in_channels, int height, int width,
                                       int output_stride) {
  Architecture a;
  a.arch = kArch;
  a.num_classes = num_classes;
  a.n_layers = num_layers;
  a.in_channels = in_channels;
  a.height = height;
  a.width = width;
  a.output_stride = output_stride;
  return a;
}

DetectNetHeads split_detectnet_heads(const at::Tensor& output, int64_t num_classes) {
  if (num_classes < 1 || output.dim() != 4 || output.size(1) != 5 * num_classes)
    throw Error("detectnet_v2: expected an output of [N, " + std::to_string(5 * num_classes) + ", h, w] (" +
                std::to_string(num_classes) + " classes: coverage then 4 bbox channels each), got " +
                shape_of(output));
  return {output.narrow(1, 0, num_classes), output.narrow(1, num_classes, 4 * num_classes)};
}

DetectNetV2::DetectNetV2(Architecture a) : arch_(std::move(a)), impl_(std::make_shared<Impl>()) {
  if (arch_.arch.empty()) arch_.arch = kArch;
  if (arch_.arch != kArch) throw UsageError("DetectNetV2 built from an architecture for '" + arch_.arch + "'");
  validate(arch_);
  stride_ = arch_.output_stride;
  Impl& m = *impl_;
  const auto counts = resnet::blocks_per_stage(arch_.n_layers, kArch, "num_layers");
  // 7x7/2 stem, with the max-pool at stride 16; layer2, layer3 at stride 2; layer1, layer4 at stride 1.
  const int64_t stem = m.stem.build(*this, arch_, 7, 2, /*max_pool=*/stride_ == 16);
  const int64_t features = m.stages.build(*this, arch_, stem, counts, {1, 2, 2, 1});
  if (m.stem.stride() * m.stages.stride() != stride_)
    throw Error("detectnet_v2: the backbone's stride is " + std::to_string(m.stem.stride() * m.stages.stride()) +
                ", not " + std::to_string(stride_));
  if (arch_.dropout > 0) m.dropout = register_module("dropout", torch::nn::Dropout(arch_.dropout));
  // The heads keep their bias with batch norm too (TAO's output_bbox/BiasAdd).
  m.cov = register_module("output_cov", conv(features, arch_.num_classes, 1, 1, 0, /*bias=*/true));
  m.bbox = register_module("output_bbox", conv(features, 4 * int64_t{arch_.num_classes}, 1, 1, 0, /*bias=*/true));
}

std::pair<int64_t, int64_t> DetectNetV2::output_grid(int64_t height, int64_t width) const {
  if (height < 1 || width < 1 || height % stride_ != 0 || width % stride_ != 0)
    throw UsageError("detectnet_v2: the input height and width must be positive multiples of the output stride " +
                     std::to_string(stride_) + ", got " + std::to_string(height) + "x" + std::to_string(width));
  return {height / stride_, width / stride_};
}

DetectNetHeads DetectNetV2::forward_heads(const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != arch_.in_channels)
    throw UsageError("detectnet_v2: expected an input of [N, " + std::to_string(arch_.in_channels) + ", H, W], got " +
                     shape_of(x));
  output_grid(x.size(2), x.size(3));
  Impl& m = *impl_;
  at::Tensor f = m.stages.forward(m.stem.forward(x));
  if (m.dropout) f = m.dropout(f);
  // The heads in float32 whatever autocast computed the convolutions in: the coverage's sigmoid saturates in 16 bits,
  // and the objective takes log(p) and log(1 - p) of it.
  return {m.cov(f).to(at::kFloat).sigmoid(), m.bbox(f).to(at::kFloat)};
}

at::Tensor DetectNetV2::forward(at::Tensor x) {
  DetectNetHeads h = forward_heads(x);
  return at::cat({h.cov, h.bbox}, 1);
}

int DetectNetV2::block_of(const std::string& param_name) const { return resnet::block_of(param_name); }

Graph DetectNetV2::graph() const {
  const Impl& m = *impl_;
  GraphBuilder g(arch_);
  const int features = m.stages.graph(g, m.stem.graph(g, kGraphInput));  // the dropout is omitted (eval)
  const int cov = g.sigmoid("output_cov.sigmoid", g.conv("output_cov", m.cov, features, ""));
  const int bbox = g.conv("output_bbox", m.bbox, features, "");
  const int heads = g.concat("heads", {cov, bbox});
  return g.finish(heads, {{cov, "output_cov/Sigmoid"}, {bbox, "output_bbox/BiasAdd"}});
}

std::shared_ptr<DetectNetV2> make_detectnet_v2(Architecture arch) {
  return std::make_shared<DetectNetV2>(std::move(arch));
}

// The registry's factory (registry.cpp).
std::shared_ptr<Network> make_detectnet_v2_network(Architecture arch) { return make_detectnet_v2(std::move(arch)); }

}  // namespace kiln::networks
