// ONNX export (as TAO's export; docs/export.md): walks a network's dataflow Graph and writes an ONNX model with the
// ONNX protobuf classes — BatchNorm folded into the preceding conv, dynamic batch axis, fp32, fp16 or INT8 QDQ — then
// checks it with onnx::checker and writes it atomically. A graph with named outputs (Graph::outputs: DetectNet_v2's
// "output_cov/Sigmoid" and "output_bbox/BiasAdd") gives a model with exactly those outputs, in that order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace kiln::networks {
class Network;
struct Graph;
}  // namespace kiln::networks

namespace kiln::runtime {

enum class DataType { kFp32, kFp16, kInt8 };

const char* data_type_name(DataType t);  // "fp32", "fp16", "int8"
// "fp32" | "fp16" | "int8" (TAO's --data_type values); anything else is a kiln::UsageError.
DataType parse_data_type(const std::string& name);

struct ExportOptions {
  // ONNX opset: 12 (TAO's --target_opset default) up to the newest the linked libonnx knows (17 for ONNX 1.12).
  // INT8 needs ≥ 13 (per-channel QuantizeLinear axis).
  int opset = 13;
  // fp32: float weights and I/O. fp16: FLOAT16 weights and compute, float32 I/O through Cast nodes (as TAO's fp16
  // engines: the input contract is the same for every data type). int8: QDQ model (float weights, Q/DQ pairs).
  DataType data_type = DataType::kFp32;
  std::string input_name = "input";    // [batch, C, H, W] float32, "batch" symbolic
  // [batch, classes] float32 logits. Not used for a graph with named outputs (Graph::outputs): those names are the
  // model's outputs, [batch, C, h, w] float32 each.
  std::string output_name = "output";
  // INT8 only: per-tensor activation scale (amax / 127, TensorRT's calibration-cache value) keyed by ONNX tensor name
  // (see onnx_tensor_names). Every tensor that gets a Q/DQ pair (int8_activation_tensors) must be present; extra
  // entries are ignored. A scale of 0 (a tensor that was always 0 during calibration) is replaced by kMinScale.
  std::map<std::string, float> activation_scales;
  // INT8 only: also put Q/DQ on both inputs of every residual Add (lets TensorRT fuse the add into the int8 conv;
  // costs a little accuracy in onnxruntime). Off by default; see docs/export.md.
  bool quantize_add_inputs = false;
  std::string producer_name = "kiln";
  std::string doc_string;  // model doc_string; empty → "kiln <arch summary> (<data type>)"
};

// Smallest scale written for a Q/DQ pair (all-zero weight channels, activations calibrated as all 0).
constexpr float kMinScale = 1e-8f;

// Returns in a build with ONNX export; in one without (KILN_WITH_ONNX_EXPORT=OFF) throws kiln::UsageError naming
// the option, prefixed with `what` ("exporting out/model.onnx"), as every entry point below then does.
void require_onnx_export(const std::string& what);

// Exports net.graph() with the parameters and buffers of `net` (eval-mode semantics) to `path`.
// Throws kiln::UsageError for bad options or an unwritable path (naming it) — checked before any work —, and
// kiln::Error naming the node/tensor for an inconsistent graph, a missing parameter or a missing INT8 scale.
// On failure nothing is left at `path` (a previous file there is untouched).
void export_onnx(const networks::Network& net, const ExportOptions& opt, const std::string& path);
// Same for any module and graph (the Network overload calls this with net.graph()); `arch_summary` feeds doc_string.
void export_onnx(const networks::Graph& graph, const torch::nn::Module& module, const ExportOptions& opt,
                 const std::string& path, const std::string& arch_summary = "");

// What an ONNX file holds, after loading it and running the ONNX checker and strict shape inference on it.
struct OnnxInfo {
  int64_t ir_version = 0, opset = 0;
  std::string producer, doc_string;
  std::map<std::string, std::string> metadata;
  // Graph inputs/outputs (initializers excluded): name → dims, a symbolic dim as its name ("batch").
  std::map<std::string, std::vector<std::string>> inputs, outputs;
  std::map<std::string, std::string> io_types;  // name → element type ("FLOAT", "FLOAT16", …)
  std::map<std::string, int> op_counts;         // op_type → number of nodes
  std::vector<std::string> tensors;             // every node output, in node order
  size_t initializers = 0;
};
// Throws kiln::DataError naming the file when it cannot be read or parsed, or fails the checker.
OnnxInfo inspect_onnx(const std::string& path);

// The tensor naming rule shared with the INT8 calibrator: graph node name → name of that node's output tensor in the
// exported model. The network input is opt.input_name ("input"); a node's output tensor carries the node's name,
// except that a Conv whose BatchNorm is folded into it has no tensor of its own (the fused conv writes the BN node's
// tensor, so the conv is absent from the map), and the graph's output node writes opt.output_name in fp32/int8
// (in fp16 its tensor keeps the node name and a Cast writes opt.output_name). With Graph::outputs the same holds for
// each output node and its Graph::Output::name; nodes no output needs (DetectNet_v2's Concat) have no tensor.
std::map<std::string, std::string> onnx_tensor_names(const networks::Graph& graph, const ExportOptions& opt = {});
// INT8: the activation tensors that get a Q/DQ pair (and so need a scale), in graph order: every tensor consumed
// by a Conv or Gemm (and by an Add when opt.quantize_add_inputs) that the model holds.
std::vector<std::string> int8_activation_tensors(const networks::Graph& graph, const ExportOptions& opt = {});

}  // namespace kiln::runtime
