// kiln model files (.kiln): checkpoints and final/pruned models share one self-describing container:
//   "KILNMDL1" | u64 header length | header JSON | payload (tensors, blobs) | u32 CRC32 of header+payload | "KILNEND1"
// The header holds the metadata (architecture, class names, spec, epoch/step, ...) and a table of tensors and blobs
// (name, dtype, shape, offset, size). Files are written atomically; reading verifies magic, lengths and the CRC, so a
// truncated or foreign file is a DataError naming it. See docs/formats.md.
#pragma once
#include <ATen/Tensor.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace torch::nn {
class Module;
}

namespace kiln::runtime {

struct ModelFile {
  nlohmann::json meta = nlohmann::json::object();
  std::map<std::string, at::Tensor> tensors;  // CPU tensors; model state under "model/<param name>"
  std::map<std::string, std::string> blobs;   // opaque bytes (e.g. "optimizer": a torch archive)
};

void write_model_file(const std::string& path, const ModelFile& file);
ModelFile read_model_file(const std::string& path);

// Model parameters and buffers <-> "model/<name>" tensors.
void put_module_state(const torch::nn::Module& m, ModelFile& file);
// Strict restore (resume): every parameter/buffer must be present with the same shape; throws DataError otherwise.
void restore_module_state(torch::nn::Module& m, const ModelFile& file, const std::string& path);

// Transfer loading (pretrained_model_path / -m): copies tensors whose name and shape match.
struct TransferReport {
  std::vector<std::string> loaded, skipped_shape, missing, unused;
  std::string table() const;  // printed for the user
};
TransferReport transfer_module_state(torch::nn::Module& m, const ModelFile& file);

}  // namespace kiln::runtime
