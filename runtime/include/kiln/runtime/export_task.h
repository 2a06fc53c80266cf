// `kiln classification export` (shared/DESIGN.md §7, docs/export.md): a kiln model → ONNX (fp32 | fp16 | int8 QDQ),
// the INT8 calibration cache, optional DeepStream files, and a check of the exported model in onnxruntime against
// LibTorch — for INT8, its accuracy on the evaluation data next to the FP32 model's.
#pragma once
#include <cstdint>
#include <string>

#include "kiln/runtime/tasks.h"

namespace kiln::runtime {

struct ExportTaskOptions {
  RunOptions run;                   // model_path (-m), spec_file (-e, optional: the model's stored spec), overrides
  std::string output_path;          // -o model.onnx
  std::string results_dir;          // -r: status.json (default: the output's directory)
  int opset = 13;                   // --target_opset (int8 needs ≥ 13)
  std::string data_type = "fp32";   // --data_type fp32 | fp16 | int8
  int64_t batch_size = 16;          // --batch_size: calibration images per batch
  int64_t batches = 10;             // --batches: calibration batches
  std::string cal_cache_file;       // --cal_cache_file (int8; default <output dir>/cal.bin)
  std::string cal_method = "percentile";  // --cal_method percentile | entropy | max (docs/int8.md: why percentile)
  double percentile = 99.99;        // --percentile (cal_method percentile)
  int64_t eval_images = 0;          // --eval_images: INT8 accuracy on this many evaluation images (0 = all)
  bool gen_ds_config = false;       // --gen_ds_config: labels.txt + nvinfer_config.txt beside -o
  bool verify = true;               // --no_verify skips the onnxruntime checks
};

void run_export(const ExportTaskOptions& opts);

// DeepStream nvinfer settings for kiln's normalisation y = (x/255 − mean) / std: nvinfer computes
// y = net-scale-factor · (x − offsets), so offsets = 255·mean and net-scale-factor = 1 / (255·std) (one factor for all
// channels: the mean of the per-channel std when they differ, with a warning in the file).
std::string deepstream_config(const std::string& onnx_file, const std::string& labels_file,
                              const std::string& cal_cache_file, const std::string& data_type, int channels,
                              int height, int width, int num_classes, const std::vector<float>& mean,
                              const std::vector<float>& std);

}  // namespace kiln::runtime
