// ONNX export in a build without it (KILN_WITH_ONNX_EXPORT=OFF; runtime/export/CMakeLists.txt compiles this file in
// place of onnx_export.cpp, onnx_plan.cpp and onnx_builder.cpp): every entry point throws a UsageError naming the
// option, so `kiln … export` fails before it writes anything.
#include <string>

#include "kiln/common/error.h"
#include "kiln/export/export.h"

namespace kiln::runtime {
namespace {

[[noreturn]] void without(const std::string& what) {
  throw UsageError(what + ": kiln was built without ONNX export (KILN_WITH_ONNX_EXPORT=OFF); use a build configured "
                          "with -DKILN_WITH_ONNX_EXPORT=ON (it needs libonnx and protobuf)");
}

}  // namespace

void require_onnx_export(const std::string& what) { without(what); }

void export_onnx(const networks::Network&, const ExportOptions&, const std::string& path) {
  without("exporting " + path);
}

void export_onnx(const networks::Graph&, const torch::nn::Module&, const ExportOptions&, const std::string& path,
                 const std::string&) {
  without("exporting " + path);
}

OnnxInfo inspect_onnx(const std::string& path) { without("reading " + path); }

std::map<std::string, std::string> onnx_tensor_names(const networks::Graph&, const ExportOptions&) {
  without("naming the ONNX tensors");
}

std::vector<std::string> int8_activation_tensors(const networks::Graph&, const ExportOptions&) {
  without("listing the INT8 tensors");
}

}  // namespace kiln::runtime
