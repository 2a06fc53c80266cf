// The export plan (docs/export.md): checks a network graph's structure, decides which BatchNorms fold into their
// conv, names every node's output tensor, and picks the tensors that get an INT8 Q/DQ pair. The ONNX builder
// (onnx_builder.cpp) follows the plan, and INT8 calibration (export_task.cpp) uses the same naming (onnx_tensor_names,
// int8_activation_tensors), so the scales it computes are keyed by the tensors the exported model has.
#include <set>
#include <string>

#include "kiln/common/error.h"
#include "kiln/networks/graph.h"
#include "kiln/runtime/export.h"
#include "onnx_export_detail.h"

namespace kiln::runtime {
namespace detail {

using networks::Graph;
using networks::kGraphInput;
using networks::Node;
using networks::Op;

std::string node_label(const Node& n) { return std::string(networks::op_name(n.op)) + " node '" + n.name + "'"; }

Plan make_plan(const Graph& g, const ExportOptions& opt) {
  const int n = static_cast<int>(g.nodes.size());
  if (n == 0) throw Error("export: the network graph has no nodes");
  if (g.output < 0 || g.output >= n)
    throw Error("export: the network graph's output index " + std::to_string(g.output) + " is out of range (" +
                std::to_string(n) + " nodes)");
  if (opt.input_name.empty() || opt.output_name.empty() || opt.input_name == opt.output_name)
    throw UsageError("export: input and output tensor names must be non-empty and different");
  Plan p;
  p.folded_bn.assign(n, -1);
  p.folded.assign(n, false);
  p.tensor.resize(n);
  p.consumers.resize(n);
  std::set<std::string> names;
  for (int i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (node.name.empty())
      throw Error("export: graph node " + std::to_string(i) + " (" + networks::op_name(node.op) + ") has no name");
    if (!names.insert(node.name).second) throw Error("export: two graph nodes are named '" + node.name + "'");
    if (node.name == opt.input_name || node.name == opt.output_name)
      throw Error("export: " + node_label(node) + " clashes with the model's input/output tensor name");
    const size_t arity = node.op == Op::Add ? 2 : 1;
    if (node.inputs.size() != arity)
      throw Error("export: " + node_label(node) + " has " + std::to_string(node.inputs.size()) + " inputs, expected " +
                  std::to_string(arity));
    for (int in : node.inputs) {
      if (in != kGraphInput && (in < 0 || in >= i))
        throw Error("export: " + node_label(node) + " takes input " + std::to_string(in) +
                    ", which is not an earlier node (the graph must be in topological order)");
      if (in != kGraphInput) p.consumers[in].push_back(i);
    }
  }
  for (int i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    p.tensor[i] = node.name;
    if (node.op != Op::BatchNorm) continue;
    const int src = node.inputs[0];
    // Fold when the BN is the conv's only consumer and the conv's own output is not the graph output.
    if (src != kGraphInput && g.nodes[src].op == Op::Conv && p.consumers[src].size() == 1 && src != g.output &&
        p.folded_bn[src] < 0) {
      p.folded_bn[src] = i;
      p.folded[i] = true;
    }
  }
  for (int i = 0; i < n; ++i)
    if (p.folded_bn[i] >= 0) p.tensor[i].clear();
  if (opt.data_type != DataType::kFp16) p.tensor[g.output] = opt.output_name;
  return p;
}

namespace {
std::string input_tensor(const Plan& p, int in, const ExportOptions& opt) {
  return in == kGraphInput ? opt.input_name : p.tensor[in];
}
}  // namespace

std::string producer_tensor(const Plan& p, int in, const ExportOptions& opt) {
  if (in != kGraphInput && p.folded_bn[in] >= 0) return p.tensor[p.folded_bn[in]];
  return input_tensor(p, in, opt);
}

bool quantized_consumer(const Node& n, const ExportOptions& opt) {
  return n.op == Op::Conv || n.op == Op::Linear || (n.op == Op::Add && opt.quantize_add_inputs);
}

}  // namespace detail

std::map<std::string, std::string> onnx_tensor_names(const networks::Graph& graph, const ExportOptions& opt) {
  const detail::Plan p = detail::make_plan(graph, opt);
  std::map<std::string, std::string> names;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!p.tensor[i].empty()) names[graph.nodes[i].name] = p.tensor[i];
  return names;
}

std::vector<std::string> int8_activation_tensors(const networks::Graph& graph, const ExportOptions& opt) {
  const detail::Plan p = detail::make_plan(graph, opt);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const networks::Node& n : graph.nodes) {
    if (!detail::quantized_consumer(n, opt)) continue;
    for (int in : n.inputs) {
      const std::string t = detail::producer_tensor(p, in, opt);
      if (seen.insert(t).second) out.push_back(t);
    }
  }
  return out;
}

}  // namespace kiln::runtime
