#include "kiln/networks/graph.h"

#include <ATen/Context.h>
#include <ATen/ops/add.h>
#include <ATen/ops/batch_norm.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/clamp.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/linear.h>
#include <ATen/ops/max_pool2d.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sigmoid.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "kiln/common/error.h"

namespace kiln::networks {

const char* op_name(Op op) {
  switch (op) {
    case Op::Conv: return "Conv";
    case Op::BatchNorm: return "BatchNorm";
    case Op::Relu: return "Relu";
    case Op::Relu6: return "Relu6";
    case Op::Add: return "Add";
    case Op::MaxPool: return "MaxPool";
    case Op::GlobalAvgPool: return "GlobalAvgPool";
    case Op::Flatten: return "Flatten";
    case Op::Linear: return "Linear";
    case Op::Sigmoid: return "Sigmoid";
    case Op::Concat: return "Concat";
  }
  return "?";
}

const Node& Graph::at(const std::string& name) const {
  for (const Node& n : nodes)
    if (n.name == name) return n;
  throw Error("graph has no node '" + name + "'");
}

std::vector<int> Graph::consumers(int node) const {
  std::vector<int> out;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (std::find(nodes[i].inputs.begin(), nodes[i].inputs.end(), node) != nodes[i].inputs.end())
      out.push_back(static_cast<int>(i));
  return out;
}

namespace {

std::string shape_str(at::IntArrayRef shape) {
  std::ostringstream os;
  os << shape;
  return os.str();
}

std::string describe(const Node& node) {
  return "run_graph: node '" + node.name + "' (" + op_name(node.op) + ")";
}

// The parameters and buffers of the network, looked up by a node's module name.
class Weights {
 public:
  explicit Weights(const torch::nn::Module& net)
      : params_(net.named_parameters(/*recurse=*/true)), buffers_(net.named_buffers(/*recurse=*/true)) {}

  // The tensor at node.module + "." + what, checked against `shape`; an undefined tensor when absent and optional.
  at::Tensor get(const Node& node, const std::string& what, std::vector<int64_t> shape, bool required) const {
    const std::string key = node.module + "." + what;
    const at::Tensor* t = params_.find(key);
    if (!t) t = buffers_.find(key);
    if (!t) {
      if (!required) return {};
      throw Error(describe(node) + ": the network has no parameter or buffer '" + key + "'");
    }
    if (t->sizes() != at::IntArrayRef(shape))
      throw Error(describe(node) + ": '" + key + "' is " + shape_str(t->sizes()) + ", the graph needs " +
                  shape_str(shape));
    return *t;
  }

 private:
  torch::OrderedDict<std::string, at::Tensor> params_, buffers_;
};

void expect_channels(const Node& node, const at::Tensor& x, int64_t channels) {
  if (x.dim() < 2 || x.size(1) != channels)
    throw Error(describe(node) + ": expects " + std::to_string(channels) + " input channels/features, its input is " +
                shape_str(x.sizes()));
}

at::Tensor execute(const Node& node, const std::vector<at::Tensor>& in, const Weights& w) {
  const at::Tensor& x = in[0];
  switch (node.op) {
    case Op::Conv: {
      if (node.groups < 1 || node.in_channels % node.groups != 0 || node.out_channels % node.groups != 0)
        throw Error(describe(node) + ": groups " + std::to_string(node.groups) + " do not divide its " +
                    std::to_string(node.in_channels) + " -> " + std::to_string(node.out_channels) + " channels");
      if (x.dim() != 4) throw Error(describe(node) + ": expects an [N, C, H, W] input, got " + shape_str(x.sizes()));
      expect_channels(node, x, node.in_channels);
      const at::Tensor weight =
          w.get(node, "weight", {node.out_channels, node.in_channels / node.groups, node.kernel, node.kernel}, true);
      const at::Tensor bias = w.get(node, "bias", {node.out_channels}, false);
      return at::conv2d(x, weight, bias, {node.stride, node.stride}, {node.padding, node.padding}, {1, 1},
                        node.groups);
    }
    case Op::BatchNorm: {
      expect_channels(node, x, node.out_channels);
      const std::vector<int64_t> c{node.out_channels};
      const at::Tensor mean = w.get(node, "running_mean", c, true), var = w.get(node, "running_var", c, true);
      const at::Tensor weight = w.get(node, "weight", c, false), bias = w.get(node, "bias", c, false);
      return at::batch_norm(x, weight, bias, mean, var, /*training=*/false, /*momentum=*/0.0, node.eps,
                            at::globalContext().userEnabledCuDNN());
    }
    case Op::Relu: return at::relu(x);
    case Op::Relu6: return at::clamp(x, at::Scalar(0), at::Scalar(6));
    case Op::Add:
      if (x.sizes() != in[1].sizes())
        throw Error(describe(node) + ": adds " + shape_str(x.sizes()) + " and " + shape_str(in[1].sizes()));
      return at::add(x, in[1]);
    case Op::MaxPool:
      return at::max_pool2d(x, {node.kernel, node.kernel}, {node.stride, node.stride}, {node.padding, node.padding});
    case Op::GlobalAvgPool:
      if (x.dim() != 4) throw Error(describe(node) + ": expects an [N, C, H, W] input, got " + shape_str(x.sizes()));
      return x.mean({2, 3}, /*keepdim=*/true);
    case Op::Flatten: return x.flatten(1);
    case Op::Linear: {
      if (x.dim() != 2) throw Error(describe(node) + ": expects an [N, features] input, got " + shape_str(x.sizes()));
      expect_channels(node, x, node.in_channels);
      const at::Tensor weight = w.get(node, "weight", {node.out_channels, node.in_channels}, true);
      return at::linear(x, weight, w.get(node, "bias", {node.out_channels}, false));
    }
    case Op::Sigmoid: return at::sigmoid(x);
    case Op::Concat:
      for (const at::Tensor& t : in)
        if (t.dim() != 4 || t.size(0) != x.size(0) || t.size(2) != x.size(2) || t.size(3) != x.size(3))
          throw Error(describe(node) + ": joins " + shape_str(x.sizes()) + " and " + shape_str(t.sizes()) +
                      " (needs [N, C, H, W] inputs of one N, H, W)");
      return at::cat(in, 1);
  }
  throw Error(describe(node) + ": unknown op");
}

bool arity_ok(Op op, size_t n) { return op == Op::Concat ? n >= 2 : n == (op == Op::Add ? 2u : 1u); }
const char* arity_text(Op op) { return op == Op::Concat ? "2 or more" : op == Op::Add ? "2" : "1"; }

bool has_module(Op op) { return op == Op::Conv || op == Op::BatchNorm || op == Op::Linear; }

// Runs the graph, returning the values of the nodes `keep` (each checked to be a node).
std::vector<at::Tensor> run(const Graph& graph, const torch::nn::Module& net, const at::Tensor& input,
                            const NodeObserver& observe, const std::vector<int>& keep) {
  const int n = static_cast<int>(graph.nodes.size());
  if (graph.output < 0 || graph.output >= n)
    throw Error("run_graph: the graph's output " + std::to_string(graph.output) + " is not one of its " +
                std::to_string(n) + " nodes");
  for (int k : keep)
    if (k < 0 || k >= n)
      throw Error("run_graph: the graph's output " + std::to_string(k) + " is not one of its " + std::to_string(n) +
                  " nodes");
  if (input.dim() != 4 || input.size(1) != graph.in_channels)
    throw Error("run_graph: the input is " + shape_str(input.sizes()) + ", the graph takes [N, " +
                std::to_string(graph.in_channels) + ", H, W]");

  // Check the structure first, and note each value's last reader so it is released once no longer needed.
  std::vector<int> last_use(n, -1);
  for (int i = 0; i < n; ++i) {
    const Node& node = graph.nodes[i];
    if (!arity_ok(node.op, node.inputs.size()))
      throw Error(describe(node) + ": has " + std::to_string(node.inputs.size()) + " inputs, needs " +
                  arity_text(node.op));
    if (has_module(node.op) && node.module.empty()) throw Error(describe(node) + ": names no module");
    for (int in : node.inputs) {
      if (in != kGraphInput && (in < 0 || in >= i))
        throw Error(describe(node) + ": input " + std::to_string(in) + " is not an earlier node");
      if (in >= 0) last_use[in] = i;
    }
  }

  const Weights weights(net);
  std::vector<at::Tensor> values(n);
  std::vector<at::Tensor> in;
  for (int i = 0; i < n; ++i) {
    const Node& node = graph.nodes[i];
    in.clear();
    for (int j : node.inputs) in.push_back(j == kGraphInput ? input : values[j]);
    try {
      values[i] = execute(node, in, weights);
    } catch (const c10::Error& e) {
      throw Error(describe(node) + ": " + e.what_without_backtrace());
    }
    if (observe) observe(node, values[i]);
    for (int j : node.inputs)
      if (j >= 0 && last_use[j] == i && std::find(keep.begin(), keep.end(), j) == keep.end()) values[j].reset();
  }
  std::vector<at::Tensor> out;
  for (int k : keep) out.push_back(values[k]);
  return out;
}

}  // namespace

at::Tensor run_graph(const Graph& graph, const torch::nn::Module& net, const at::Tensor& input,
                     const NodeObserver& observe) {
  return run(graph, net, input, observe, {graph.output}).front();
}

std::vector<at::Tensor> run_graph_outputs(const Graph& graph, const torch::nn::Module& net, const at::Tensor& input,
                                          const NodeObserver& observe) {
  std::vector<int> keep;
  for (const Graph::Output& o : graph.outputs) keep.push_back(o.node);
  if (keep.empty()) keep.push_back(graph.output);
  return run(graph, net, input, observe, keep);
}

}  // namespace kiln::networks
