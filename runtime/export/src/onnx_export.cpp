// ONNX export's entry points (docs/export.md): option and output-path checks, export_onnx (build the model, run
// strict shape inference and the ONNX checker on it, write it atomically) and inspect_onnx. What the model holds is
// decided by the export plan (onnx_plan.cpp) and emitted by the builder (onnx_builder.cpp). Debian's libonnx is built
// with ONNX_NAMESPACE=onnx and ONNX_ML=1 (the imported target's compile definitions) and Debian's LibTorch links the
// very same shared libonnx/libprotobuf, so the ONNX schemas and protobuf descriptors exist once in the process; see
// runtime/CMakeLists.txt.
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/defs/shape_inference.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <torch/nn/module.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/networks/graph.h"
#include "kiln/networks/network.h"
#include "kiln/export/export.h"
#include "onnx_export_detail.h"

namespace kiln::runtime {

namespace {

namespace fs = std::filesystem;
using networks::Graph;

constexpr int kMinOpset = 12;

int max_opset() {
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = ranges.find(onnx::ONNX_DOMAIN);
  return it == ranges.end() ? 17 : it->second.second;
}

void check_options(const ExportOptions& opt) {
  const int hi = max_opset();
  if (opt.opset < kMinOpset || opt.opset > hi)
    throw UsageError("export: opset " + std::to_string(opt.opset) + " is not supported (kiln writes opset " +
                     std::to_string(kMinOpset) + ".." + std::to_string(hi) + ")");
  if (opt.data_type == DataType::kInt8 && opt.opset < 13)
    throw UsageError("export: int8 (QDQ with per-channel weight scales) needs opset 13 or newer, got " +
                     std::to_string(opt.opset));
}

// An unwritable destination is a usage error, found before any work.
void check_output_path(const std::string& path) {
  if (path.empty()) throw UsageError("export: the ONNX output path is empty");
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw UsageError("cannot write ONNX model " + path + ": it is a directory");
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (!fs::exists(dir, ec))
    throw UsageError("cannot write ONNX model " + path + ": directory " + dir + " does not exist");
  if (!fs::is_directory(dir, ec))
    throw UsageError("cannot write ONNX model " + path + ": " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw UsageError("cannot write ONNX model " + path + ": directory " + dir + " is not writable (" +
                     std::strerror(errno) + ")");
}

void export_model(const Graph& graph, const torch::nn::Module& module, const ExportOptions& opt,
                  const std::string& path, const std::string& graph_name, const std::string& summary,
                  const std::map<std::string, std::string>& metadata) {
  check_options(opt);
  check_output_path(path);
  const std::string doc = !opt.doc_string.empty() ? opt.doc_string
                                                  : "kiln " + (summary.empty() ? std::string("model") : summary) +
                                                        " (" + data_type_name(opt.data_type) + ")";
  std::map<std::string, std::string> meta = metadata;
  meta["kiln.data_type"] = data_type_name(opt.data_type);
  onnx::ModelProto model = [&] {
    at::NoGradGuard no_grad;
    return detail::build_onnx_model(graph, module, opt, graph_name, doc, meta);
  }();
  try {
    // Strict shape inference (fills value_info for every tensor, and fails on any inconsistency), then the checker.
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error("export: the ONNX model for " + path + " fails the ONNX checker: " + e.what());
  }
  if (model.ByteSizeLong() > static_cast<size_t>(INT_MAX))
    throw Error("export: the ONNX model for " + path + " is over protobuf's 2 GiB limit");
  try {
    atomic_write(path, [&](std::ostream& os) {
      if (!model.SerializeToOstream(&os)) throw Error("serialising the ONNX model failed");
    });
  } catch (const std::exception& e) {  // the path was checked: this is an I/O failure (disk full, …)
    throw Error("export: writing ONNX model " + path + " failed: " + e.what());
  }
}

}  // namespace

void require_onnx_export(const std::string&) {}

void export_onnx(const networks::Graph& graph, const torch::nn::Module& module, const ExportOptions& opt,
                 const std::string& path, const std::string& arch_summary) {
  export_model(graph, module, opt, path, "kiln", arch_summary, {});
}

void export_onnx(const networks::Network& net, const ExportOptions& opt, const std::string& path) {
  check_options(opt);
  check_output_path(path);
  export_model(net.graph(), net, opt, path, net.architecture().arch, net.architecture().summary(),
               {{"kiln.architecture", net.architecture().to_json().dump()}});
}

OnnxInfo inspect_onnx(const std::string& path) {
  onnx::ModelProto model;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError("cannot open ONNX model " + path + ": " + std::strerror(errno));
    if (!model.ParseFromIstream(&in)) throw DataError(path + " is not an ONNX model (protobuf parse failed)");
  }
  try {
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw DataError("ONNX model " + path + " fails the ONNX checker: " + e.what());
  }
  OnnxInfo info;
  info.ir_version = model.ir_version();
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == onnx::ONNX_DOMAIN) info.opset = op.version();
  info.producer = model.producer_name();
  info.doc_string = model.doc_string();
  for (const auto& p : model.metadata_props()) info.metadata[p.key()] = p.value();
  const auto& g = model.graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  info.initializers = inits.size();
  auto describe = [&](const onnx::ValueInfoProto& vi, std::map<std::string, std::vector<std::string>>& into) {
    std::vector<std::string> dims;
    const auto& tt = vi.type().tensor_type();
    for (const auto& d : tt.shape().dim())
      dims.push_back(d.has_dim_param() ? d.dim_param() : d.has_dim_value() ? std::to_string(d.dim_value()) : "?");
    into[vi.name()] = dims;
    info.io_types[vi.name()] =
        onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(tt.elem_type()));
  };
  for (const auto& vi : g.input())
    if (!inits.count(vi.name())) describe(vi, info.inputs);
  for (const auto& vi : g.output()) describe(vi, info.outputs);
  for (const auto& n : g.node()) {
    ++info.op_counts[n.op_type()];
    for (const auto& o : n.output()) info.tensors.push_back(o);
  }
  return info;
}

}  // namespace kiln::runtime
