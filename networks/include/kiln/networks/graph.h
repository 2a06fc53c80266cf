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
  Sigmoid,        // element-wise logistic (DetectNet_v2's output_cov)
  Concat,         // two or more [N, C_i, H, W] inputs joined along the channel axis (dim 1), in input order
};

const char* op_name(Op op);

constexpr int kGraphInput = -1;  // Node::inputs entry meaning "the network input"

struct Node {
  Op op = Op::Relu;
  std::string name;             // unique; also the name of this node's output tensor (ONNX, calibration cache)
  std::string module;           // Conv/BatchNorm/Linear: qualified module name, parameters at module + ".weight" …
  std::vector<int> inputs;      // indices of earlier nodes, or kGraphInput; 2 for Add, 2 or more for Concat, else 1
  int64_t kernel = 1, stride = 1, padding = 0, groups = 1;  // Conv, MaxPool
  int64_t in_channels = 0, out_channels = 0;                // Conv, Linear (features), BatchNorm (both = C)
  double eps = 1e-5;                                        // BatchNorm
  // Conv/Linear whose output channels are prunable: the Architecture::channels entry that sets them. Empty = fixed
  // (the classifier, a depthwise conv whose channels follow its input).
  std::string channel_key;
};

struct Graph {
  // A named tensor of a deployed model (ONNX graph output), for networks with several: DetectNet_v2's heads.
  struct Output {
    int node = -1;     // index of the node producing it
    std::string name;  // the tensor's name in the exported model; distinct from every node name
  };

  std::vector<Node> nodes;  // topological order
  int output = -1;          // index of the node whose value Network::forward returns (the logits; DetectNet_v2:
                            // the Concat of its heads), i.e. what run_graph returns
  // The outputs of the deployed model when it has several (DetectNet_v2: "output_cov/Sigmoid" and
  // "output_bbox/BiasAdd", TAO's names); empty = the single `output`. Nodes that only `output` needs (the Concat)
  // are not part of the deployed model.
  std::vector<Output> outputs;
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

// As run_graph, returning the value of each of graph.outputs in order ({value of graph.output} when it is empty).
std::vector<at::Tensor> run_graph_outputs(const Graph& graph, const torch::nn::Module& net, const at::Tensor& input,
                                          const NodeObserver& observe = {});

}  // namespace kiln::networks
