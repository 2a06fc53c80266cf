// Runs an ONNX model with onnxruntime's CPU execution provider, through Node.js and the onnxruntime-node package
// (setup.sh installs it into <source>/.deps): kiln verifies exported models against LibTorch with it.
//
// Where things are found: onnxruntime_dir() must hold tools/ort_run.js and .deps/node_modules/onnxruntime-node; the
// `node` executable is $KILN_NODE or `node` on PATH.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace kiln::runtime {

// $KILN_ORT_DIR when set; else, for an installed kiln, <prefix>/share/kiln beside the executable's bin/ (found from
// /proc/self/exe, so an installed tree can be moved anywhere); else the source tree this kiln was built from.
std::string onnxruntime_dir();

// True when node, tools/ort_run.js and onnxruntime-node are there and load (checked once per process, by running
// `node tools/ort_run.js --version`).
bool onnxruntime_available();
// onnxruntime's version ("1.30.0"); throws kiln::Error (with the reason) when it is not available.
std::string onnxruntime_version();

// Runs `model` (an .onnx file) on `input` (converted to contiguous float32 on the CPU) and returns its first output as
// a float32 CPU tensor. Throws kiln::Error carrying node's stderr when onnxruntime fails (e.g. a model it rejects).
at::Tensor run_onnxruntime(const std::string& model, const at::Tensor& input);

// One output of a model run by onnxruntime.
struct OnnxOutput {
  std::string name;  // the ONNX graph output's name ("output", "output_cov/Sigmoid", …)
  at::Tensor value;  // float32 CPU
};
// As run_onnxruntime, returning every output of the model in the model's order (DetectNet_v2: the coverage, then the
// bbox head).
std::vector<OnnxOutput> run_onnxruntime_outputs(const std::string& model, const at::Tensor& input);

}  // namespace kiln::runtime
