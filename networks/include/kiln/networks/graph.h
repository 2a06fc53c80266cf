// A network's inference-time dataflow, described by the network itself: the one place that prune, export (ONNX),
// INT8 calibration and any other whole-model tool learn what a network computes. Each node names the module whose
// parameters it uses, so the graph reads weights straight from the live torch module; `run_graph` executes the graph
// with LibTorch ops and is tested to equal Network::forward in eval mode, so what is exported is what was trained.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace kiln::networks {

enum class Op {
  Conv,           // 2-D convolution; weight [out, in/groups, k, k], optional bias
  BatchNorm,      // BatchNorm2d in eval mode (running stats); folded into the preceding conv on export
  Relu,
  Relu6,          // clamp(0, 6) (MobileNetV2)
  Add,            // element-wise sum of two inputs (residual)
  MaxPool,        // kernel, stride, padding
  GlobalAvgPool,  // mean over H, W keeping [N, C, 1, 1]
  Flatten,        // [N, C, H, W] → [N, C*H*W] (C-major, as torch.flatten(1))
  Linear,         // weight [out, in], optional bias
};

const char* op_name(Op op);

constexpr int kGraphInput = -1;  // Node::inputs entry meaning "the network input"

struct Node {
  Op op = Op::Relu;
  std::string name;             // unique; also the name of this node's output tensor (ONNX, calibration cache)
  std::string module;           // Conv/BatchNorm/Linear: qualified module name, parameters at module + ".weight" …
  std::vector<int> inputs;      // indices of earlier nodes, or kGraphInput
  int64_t kernel = 1, stride = 1, padding = 0, groups = 1;  // Conv, MaxPool
  int64_t in_channels = 0, out_channels = 0;                // Conv, Linear (features), BatchNorm (both = C)
  double eps = 1e-5;                                        // BatchNorm
  // Conv/Linear whose output channels are prunable: the Architecture::channels entry that sets them. Empty = fixed
  // (the classifier, a depthwise conv whose channels follow its input).
  std::string channel_key;
};

struct Graph {
  std::vector<Node> nodes;  // topological order
  int output = -1;          // index of the node producing the logits
  int64_t in_channels = 1, height = 28, width = 28;

  const Node& at(const std::string& name) const;  // throws kiln::Error for an unknown name
  std::vector<int> consumers(int node) const;     // nodes that take `node` as an input
};

// Receives every node's output while run_graph executes (calibration histograms, debugging).
using NodeObserver = std::function<void(const Node&, const at::Tensor&)>;

// Executes `graph` with the parameters and buffers of `net` (eval-mode semantics: BN uses running stats, no dropout).
// Throws kiln::Error naming the node when a parameter is missing or has the wrong shape.
at::Tensor run_graph(const Graph& graph, const torch::nn::Module& net, const at::Tensor& input,
                     const NodeObserver& observe = {});

}  // namespace kiln::networks
