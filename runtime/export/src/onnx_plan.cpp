// The export plan (docs/export.md): checks a network graph's structure, decides which nodes the model's outputs need
// (every node for a single output; DetectNet_v2's two heads leave out the Concat that joins them for forward()), which
// BatchNorms fold into their conv, names every node's output tensor, and picks the tensors that get an INT8 Q/DQ
// pair. The ONNX builder (onnx_builder.cpp) follows the plan, and INT8 calibration (export_task.cpp) uses the same
// naming (onnx_tensor_names, int8_activation_tensors), so the scales it computes are keyed by the tensors the
// exported model has.
#include <set>
#include <string>

#include "kiln/common/error.h"
#include "kiln/networks/graph.h"
#include "kiln/export/export.h"
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
  Plan p;
  p.multi_output = !g.outputs.empty();
  if (!p.multi_output) {
    if (opt.input_name.empty() || opt.output_name.empty() || opt.input_name == opt.output_name)
      throw UsageError("export: input and output tensor names must be non-empty and different");
    p.output_nodes = {g.output};
    p.output_names = {opt.output_name};
  } else {
    // Several named outputs (DetectNet_v2's heads): opt.output_name is not used.
    if (opt.input_name.empty()) throw UsageError("export: the input tensor name must be non-empty");
    for (const Graph::Output& o : g.outputs) {
      if (o.node < 0 || o.node >= n)
        throw Error("export: the network graph's output '" + o.name + "' names node " + std::to_string(o.node) +
                    ", which is out of range (" + std::to_string(n) + " nodes)");
      if (o.name.empty())
        throw Error("export: the network graph's output produced by " + node_label(g.nodes[o.node]) +
                    " has no name");
      if (o.name == opt.input_name)
        throw Error("export: the network graph's output '" + o.name + "' clashes with the input tensor name");
      for (size_t k = 0; k < p.output_nodes.size(); ++k) {
        if (p.output_names[k] == o.name) throw Error("export: two graph outputs are named '" + o.name + "'");
        if (p.output_nodes[k] == o.node)
          throw Error("export: graph outputs '" + p.output_names[k] + "' and '" + o.name + "' are both " +
                      node_label(g.nodes[o.node]));
      }
      p.output_nodes.push_back(o.node);
      p.output_names.push_back(o.name);
    }
  }
  const std::set<std::string> output_names(p.output_names.begin(), p.output_names.end());
  p.folded_bn.assign(n, -1);
  p.folded.assign(n, false);
  p.live.assign(n, !p.multi_output);
  p.tensor.resize(n);
  p.consumers.resize(n);
  std::set<std::string> names;
  for (int i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (node.name.empty())
      throw Error("export: graph node " + std::to_string(i) + " (" + networks::op_name(node.op) + ") has no name");
    if (!names.insert(node.name).second) throw Error("export: two graph nodes are named '" + node.name + "'");
    if (node.name == opt.input_name || output_names.count(node.name))
      throw Error("export: " + node_label(node) + " clashes with the model's input/output tensor name");
    const bool arity_ok = node.op == Op::Add      ? node.inputs.size() == 2
                          : node.op == Op::Concat ? node.inputs.size() >= 2
                                                  : node.inputs.size() == 1;
    if (!arity_ok)
      throw Error("export: " + node_label(node) + " has " + std::to_string(node.inputs.size()) + " inputs, expected " +
                  (node.op == Op::Add ? "2" : node.op == Op::Concat ? "2 or more" : "1"));
    for (int in : node.inputs)
      if (in != kGraphInput && (in < 0 || in >= i))
        throw Error("export: " + node_label(node) + " takes input " + std::to_string(in) +
                    ", which is not an earlier node (the graph must be in topological order)");
  }
  // Several outputs: only the nodes they need are emitted (not DetectNet_v2's Concat of the heads).
  if (p.multi_output) {
    for (int o : p.output_nodes) p.live[o] = true;
    for (int i = n - 1; i >= 0; --i)
      if (p.live[i])
        for (int in : g.nodes[i].inputs)
          if (in != kGraphInput) p.live[in] = true;
  }
  std::vector<bool> is_output(n, false);
  for (int o : p.output_nodes) is_output[o] = true;
  for (int i = 0; i < n; ++i)
    if (p.live[i])
      for (int in : g.nodes[i].inputs)
        if (in != kGraphInput) p.consumers[in].push_back(i);
  for (int i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (!p.live[i]) continue;
    p.tensor[i] = node.name;
    if (node.op != Op::BatchNorm) continue;
    const int src = node.inputs[0];
    // Fold when the BN is the conv's only consumer and the conv's own output is not a model output.
    if (src != kGraphInput && g.nodes[src].op == Op::Conv && p.consumers[src].size() == 1 && !is_output[src] &&
        p.folded_bn[src] < 0) {
      p.folded_bn[src] = i;
      p.folded[i] = true;
    }
  }
  for (int i = 0; i < n; ++i)
    if (p.folded_bn[i] >= 0) p.tensor[i].clear();
  // fp32/int8: the output node writes the output tensor itself; fp16: a Cast writes it (builder).
  if (opt.data_type != DataType::kFp16)
    for (size_t k = 0; k < p.output_nodes.size(); ++k) p.tensor[p.output_nodes[k]] = p.output_names[k];
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
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const networks::Node& n = graph.nodes[i];
    if (!p.live[i] || !detail::quantized_consumer(n, opt)) continue;
    for (int in : n.inputs) {
      const std::string t = detail::producer_tensor(p, in, opt);
      if (seen.insert(t).second) out.push_back(t);
    }
  }
  return out;
}

}  // namespace kiln::runtime
