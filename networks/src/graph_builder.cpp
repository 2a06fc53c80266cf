#include "graph_builder.h"

#include <utility>

#include "kiln/common/error.h"
#include "kiln/common/torch_compat.h"

namespace kiln::networks {

namespace {

Node make(Op op, std::string name, std::vector<int> inputs) {
  Node n;
  n.op = op;
  n.name = std::move(name);
  n.inputs = std::move(inputs);
  return n;
}

}  // namespace

GraphBuilder::GraphBuilder(const Architecture& arch) {
  graph_.in_channels = arch.in_channels;
  graph_.height = arch.height;
  graph_.width = arch.width;
}

int GraphBuilder::push(Node node) {
  const int index = static_cast<int>(graph_.nodes.size());
  if (!names_.insert(node.name).second) throw Error("graph: node name '" + node.name + "' is used twice");
  for (int in : node.inputs)
    if (in != kGraphInput && (in < 0 || in >= index))
      throw Error("graph: node '" + node.name + "' takes input " + std::to_string(in) + ", not an earlier node");
  graph_.nodes.push_back(std::move(node));
  return index;
}

int GraphBuilder::conv(const std::string& module, const torch::nn::Conv2d& conv, int input, std::string channel_key) {
  const auto& o = conv->options;
  const auto* padding = torch_compat::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto square = [](const torch::ExpandingArray<2>& a) { return a->at(0) == a->at(1); };
  if (!padding || !square(*padding) || !square(o.kernel_size()) || !square(o.stride()) || o.dilation()->at(0) != 1 ||
      o.dilation()->at(1) != 1 || !torch_compat::get_if<torch::enumtype::kZeros>(&o.padding_mode()))
    throw Error("graph: conv '" + module +
                "' is not a square, undilated, zero-padded convolution with explicit padding (unsupported)");
  Node n = make(Op::Conv, module, {input});
  n.module = module;
  n.kernel = o.kernel_size()->at(0);
  n.stride = o.stride()->at(0);
  n.padding = (*padding)->at(0);
  n.groups = o.groups();
  n.in_channels = o.in_channels();
  n.out_channels = o.out_channels();
  n.channel_key = std::move(channel_key);
  return push(std::move(n));
}

int GraphBuilder::batch_norm(const std::string& module, const torch::nn::BatchNorm2d& bn, int input) {
  Node n = make(Op::BatchNorm, module, {input});
  n.module = module;
  n.in_channels = n.out_channels = bn->options.num_features();
  n.eps = bn->options.eps();
  return push(std::move(n));
}

int GraphBuilder::linear(const std::string& module, const torch::nn::Linear& linear, int input,
                         std::string channel_key) {
  Node n = make(Op::Linear, module, {input});
  n.module = module;
  n.in_channels = linear->options.in_features();
  n.out_channels = linear->options.out_features();
  n.channel_key = std::move(channel_key);
  return push(std::move(n));
}

int GraphBuilder::relu(std::string name, int input) { return push(make(Op::Relu, std::move(name), {input})); }

int GraphBuilder::relu6(std::string name, int input) { return push(make(Op::Relu6, std::move(name), {input})); }

int GraphBuilder::add(std::string name, int a, int b) { return push(make(Op::Add, std::move(name), {a, b})); }

int GraphBuilder::max_pool(std::string name, int input, int64_t kernel, int64_t stride, int64_t padding) {
  Node n = make(Op::MaxPool, std::move(name), {input});
  n.kernel = kernel;
  n.stride = stride;
  n.padding = padding;
  return push(std::move(n));
}

int GraphBuilder::global_avg_pool(std::string name, int input) {
  return push(make(Op::GlobalAvgPool, std::move(name), {input}));
}

int GraphBuilder::flatten(std::string name, int input) { return push(make(Op::Flatten, std::move(name), {input})); }

int GraphBuilder::sigmoid(std::string name, int input) { return push(make(Op::Sigmoid, std::move(name), {input})); }

int GraphBuilder::concat(std::string name, std::vector<int> inputs) {
  if (inputs.size() < 2) throw Error("graph: concat '" + name + "' needs two or more inputs");
  return push(make(Op::Concat, std::move(name), std::move(inputs)));
}

Graph GraphBuilder::finish(int output, std::vector<Graph::Output> outputs) {
  const auto is_node = [&](int i) { return i >= 0 && i < static_cast<int>(graph_.nodes.size()); };
  if (!is_node(output)) throw Error("graph: output " + std::to_string(output) + " is not a node");
  std::set<std::string> output_names;
  for (const Graph::Output& o : outputs) {
    if (!is_node(o.node)) throw Error("graph: output '" + o.name + "' is not a node");
    if (o.name.empty() || names_.count(o.name) || !output_names.insert(o.name).second)
      throw Error("graph: output name '" + o.name + "' is empty, used twice or a node's name");
  }
  graph_.output = output;
  graph_.outputs = std::move(outputs);
  return std::move(graph_);
}

}  // namespace kiln::networks
