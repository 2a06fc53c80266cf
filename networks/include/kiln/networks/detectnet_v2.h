// DetectNet_v2 (TAO's outputs and loss; docs/detection.md): a ResNet-10/18/34
// backbone in torchvision's layout and parameter names (conv1, bn1, layer1-4) whose output grid has stride 16 or 8,
// and two 1x1 conv heads on it:
//   output_cov  [N, C, H/s, W/s]   sigmoid: per-class coverage in (0, 1);
//   output_bbox [N, 4C, H/s, W/s]  linear: channel 4c + {0: L, 1: T, 2: R, 3: B}, the scaled edge distances.
// Stride 16 (TAO's): 7x7/2 stem + 3x3/2 max-pool, layer2 and layer3 with stride 2, layer4 with stride 1 (TAO sets
// the last stage's stride to 1), so the backbone is torchvision's resnet minus avgpool/fc with layer4.0's stride 1.
// Stride 8 (small images): the same without the max-pool.
//
// Network::forward returns both heads joined along the channels, [N, 5C, H/s, W/s] = cat(cov, bbox), so generic code
// (training loops, DDP, checkpoints, run_graph) sees one tensor; forward_heads and split_detectnet_heads give the two.
// The graph ends in a Concat of the heads (Graph::output, what run_graph returns, = forward) and names the heads as
// the deployed model's two outputs (Graph::outputs): "output_cov/Sigmoid" and "output_bbox/BiasAdd", the tensor
// names TAO's exported models and DeepStream's DetectNet_v2 parser use.
//
// Built from an Architecture with arch "detectnet_v2": n_layers (10, 18, 34), in_channels (1, 3), height and width
// (positive multiples of output_stride), num_classes, output_stride (16, 8), base_width, use_batch_norm, use_bias,
// dropout (on the backbone's features, training only). create() knows it by that name; channel keys are ResNet's
// (conv1, layerS, layerS.B.conv1); the heads' widths are fixed by the classes.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <utility>

#include "kiln/networks/network.h"

namespace kiln::networks {

struct DetectNetHeads {
  at::Tensor cov;   // [N, C, h, w], in (0, 1)
  at::Tensor bbox;  // [N, 4C, h, w]
};

// An Architecture for detectnet_v2; the rest (base_width 64, batch norm, no bias, no dropout) can be changed after.
Architecture detectnet_v2_architecture(int num_classes, int num_layers, int in_channels, int height, int width,
                                       int output_stride = 16);

// forward()'s [N, 5C, h, w] split into the heads (views, no copy); kiln::Error if it does not have 5·num_classes
// channels.
DetectNetHeads split_detectnet_heads(const at::Tensor& output, int64_t num_classes);

class DetectNetV2 : public Network {
 public:
  // Throws kiln::UsageError naming the setting for an unsupported depth, stride, input channels, input size (not a
  // positive multiple of the stride), class count, width or dropout. An empty arch.arch is taken as "detectnet_v2".
  explicit DetectNetV2(Architecture arch);

  at::Tensor forward(at::Tensor x) override;  // cat({cov, bbox}, 1)
  // Both heads. x is [N, in_channels, H, W] with H and W multiples of the stride (any such size: the network is
  // fully convolutional); kiln::UsageError otherwise.
  DetectNetHeads forward_heads(const at::Tensor& x);

  int64_t output_stride() const { return stride_; }
  int64_t num_classes() const { return arch_.num_classes; }
  // The output grid {rows, columns} for an input of height x width; kiln::UsageError unless both are positive
  // multiples of the stride.
  std::pair<int64_t, int64_t> output_grid(int64_t height, int64_t width) const;

  const Architecture& architecture() const override { return arch_; }
  int num_blocks() const override { return 5; }  // 0 = conv1/bn1, 1-4 = layer1-4; the heads are never frozen
  int block_of(const std::string& param_name) const override;
  Graph graph() const override;

 private:
  struct Impl;
  Architecture arch_;
  int64_t stride_ = 16;
  std::shared_ptr<Impl> impl_;
};

std::shared_ptr<DetectNetV2> make_detectnet_v2(Architecture arch);

}  // namespace kiln::networks
