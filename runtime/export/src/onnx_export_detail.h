// Internal to kiln_export: what onnx_export.cpp (entry points: option checks, ONNX checker, atomic write, inspection)
// shares with onnx_plan.cpp (graph checks, BN folding, tensor naming, the Q/DQ consumers) and onnx_builder.cpp (the
// ONNX protobuf emission). Includes the ONNX protobuf classes, so it is used with the kiln_export target's
// ONNX_NAMESPACE=onnx / ONNX_ML=1 definitions only; see runtime/CMakeLists.txt.
#pragma once
#include <onnx/onnx_pb.h>

#include <map>
#include <string>
#include <vector>

#include "kiln/networks/graph.h"
#include "kiln/export/export.h"

namespace torch::nn {
class Module;
}

namespace kiln::runtime::detail {

// "Conv node 'layer1.0.conv1'", for error messages.
std::string node_label(const networks::Node& n);

// ---- The export plan (onnx_plan.cpp): what export does with each graph node. ----

struct Plan {
  std::vector<int> folded_bn;       // Conv i: index of the BatchNorm folded into it, or -1
  std::vector<bool> folded;         // BatchNorm i: folded into its input conv (emits nothing of its own)
  std::vector<bool> live;           // node i is needed by a model output (always, for a single-output graph)
  std::vector<std::string> tensor;  // output tensor of node i ("" for a conv whose BN is folded, or a dead node)
  std::vector<std::vector<int>> consumers;  // live consumers of node i
  // The model's outputs, in order: {graph.output} named opt.output_name, or Graph::outputs with their names.
  std::vector<int> output_nodes;
  std::vector<std::string> output_names;
  bool multi_output = false;  // Graph::outputs is non-empty
};

// Checks the graph's structure (names, topological inputs, arity, model outputs) and decides liveness, folding and
// naming.
Plan make_plan(const networks::Graph& g, const ExportOptions& opt);
// Node whose output tensor node `in` reads: a folded conv's consumer reads the BN's tensor, never the conv's.
std::string producer_tensor(const Plan& p, int in, const ExportOptions& opt);
// INT8: whether node `n`'s inputs get a Q/DQ pair (Conv, Linear, and Add with opt.quantize_add_inputs).
bool quantized_consumer(const networks::Node& n, const ExportOptions& opt);

// ---- The ONNX builder (onnx_builder.cpp). ----

// The ONNX model of `graph` with the parameters and buffers of `module`, fp32/fp16/int8 as opt says: BN folded per
// make_plan, dynamic batch axis, opset and metadata set. Throws kiln::Error naming the node/tensor for an
// inconsistent graph, a missing parameter or a missing INT8 scale. Not yet checked (export_model runs the checker).
onnx::ModelProto build_onnx_model(const networks::Graph& graph, const torch::nn::Module& module,
                                  const ExportOptions& opt, const std::string& graph_name, const std::string& doc,
                                  const std::map<std::string, std::string>& metadata);

}  // namespace kiln::runtime::detail
