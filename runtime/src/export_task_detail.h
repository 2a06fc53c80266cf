// Internal to the export subtask: what export_task.cpp (classification and the steps) and export_detectnet.cpp
// (DetectNet_v2) share.
#pragma once
#include <ATen/Tensor.h>

#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/detection_data.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/runtime/experiment.h"
#include "kiln/export/export.h"
#include "kiln/runtime/export_task.h"

namespace kiln::runtime::detail {

std::string fixed(double v, int digits);

// Activation ranges over the images `next` yields (a batch at a time, `num_batches` of them), as the exported
// model's tensor names → scales (amax / 127). Writes the TensorRT cache.
std::map<std::string, float> calibrate_batches(const networks::Network& net, const ExportTaskOptions& opts,
                                               const ExportOptions& eo, const std::string& cache_path,
                                               size_t num_batches,
                                               const std::function<std::optional<at::Tensor>()>& next);

// The records calibration reads: --batches × --batch_size of them, a seeded sample.
std::vector<size_t> calibration_indices(size_t size, int64_t seed, const ExportTaskOptions& opts);

// The nvinfer [property] lines both DeepStream configs have: input dims and colour format, the model, label and
// calibration files (cal_cache_file empty: none), and network-mode from data_type (fp32 / fp16 / int8).
void deepstream_model_properties(std::ostream& os, const std::string& onnx_file, const std::string& labels_file,
                                 const std::string& cal_cache_file, const std::string& data_type, int channels,
                                 int height, int width);

// ---- DetectNet_v2 (export_detectnet.cpp) ----

// A set of shard folders named by the spec: the data when every folder holds an index.json, else the spec key and
// path of the first that does not.
struct DetectionImages {
  std::optional<DetectionData> data;
  std::string key;      // "dataset_config.data_sources" / "dataset_config.validation_data_source.shards"
  std::string missing;  // "<key>: <path>" of a missing folder; empty when data is open
};

// The DetectNet_v2 spec: -e when given, else the one stored in the model (paths need not exist).
ModelSpec detectnet_spec(const ExportTaskOptions& opts, const nlohmann::json& model_meta);
DetectionImages open_detection_images(const DetectnetConfig& cfg, const std::vector<DetectionSource>& sources,
                                      bool validation_source);
void check_detectnet_model(const LoadedModel& model, const DetectnetConfig& cfg, const std::string& model_path,
                           const std::string& origin);
std::map<std::string, float> calibrate_detectnet(const networks::Network& net, const DetectnetConfig& cfg,
                                                 const DetectionImages& train, const ExportTaskOptions& opts,
                                                 const ExportOptions& eo, const std::string& cache_path);
nlohmann::json verify_detectnet(networks::Network& net, const DetectnetConfig& cfg, const DetectionImages& eval,
                                const ExportTaskOptions& opts, DataType type);
void write_detectnet_deepstream_files(const networks::Network& net, const DetectnetConfig& cfg,
                                      const ExportTaskOptions& opts, const std::string& cache_path);

}  // namespace kiln::runtime::detail
