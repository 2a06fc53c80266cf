// `kiln classification export` and `kiln detectnet_v2 export` (docs/export.md): a kiln model →
// ONNX (fp32 | fp16 | int8 QDQ), the INT8 calibration cache, optional DeepStream files, and a check of the exported
// model in onnxruntime against LibTorch — for INT8, a classifier's accuracy on the evaluation data next to the FP32
// model's, a DetectNet_v2's coverage agreement with the FP32 model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
  int64_t eval_images = 0;          // --eval_images: INT8 accuracy/agreement on this many evaluation images (0 = all)
  bool gen_ds_config = false;       // --gen_ds_config: labels.txt + nvinfer_config.txt beside -o
  bool verify = true;               // --no_verify skips the onnxruntime checks
  // "classification" | "detectnet_v2": the CLI command, which must match the model file's network (UsageError
  // otherwise); empty: whichever the model is. A classifier's data and normalisation come from a classification spec,
  // a DetectNet_v2's images (pixels / 255) from the shards of its DetectNet_v2 spec.
  std::string network;
};

void run_export(const ExportTaskOptions& opts);

// DeepStream nvinfer settings for kiln's normalisation y = (x/255 − mean) / std: nvinfer computes
// y = net-scale-factor · (x − offsets), so offsets = 255·mean and net-scale-factor = 1 / (255·std) (one factor for all
// channels: the mean of the per-channel std when they differ, with a warning in the file).
std::string deepstream_config(const std::string& onnx_file, const std::string& labels_file,
                              const std::string& cal_cache_file, const std::string& data_type, int channels,
                              int height, int width, int num_classes, const std::vector<float>& mean,
                              const std::vector<float>& std);

// DeepStream nvinfer settings for a DetectNet_v2 model (network-type 0; docs/export.md, DeepStream): inputs
// are pixels / 255 (net-scale-factor 1/255, offsets 0), output-blob-names the model's outputs in order, cluster-mode 2
// (NMS, as TAO's DeepStream samples) with [class-attrs-all] from the first class's thresholds and a
// [class-attrs-<id>] section for each class whose thresholds differ. A bbox scale/offset other than TAO's 35/0.5
// (what nvinfer's built-in DetectNet_v2 parser assumes) is flagged in a comment.
struct DetectnetDsClass {
  float pre_cluster_threshold = 0.2f;  // postprocessing_config …clustering_config.coverage_threshold
  // …clustering_config.nms_iou_threshold of a class clustered with NMS; < 0 (DBSCAN): not written, nvinfer's default
  float nms_iou_threshold = -1.0f;
};
std::string deepstream_detectnet_config(const std::string& onnx_file, const std::string& labels_file,
                                        const std::string& cal_cache_file, const std::string& data_type, int channels,
                                        int height, int width, const std::vector<std::string>& output_blobs,
                                        const std::vector<DetectnetDsClass>& classes, float bbox_scale = 35.0f,
                                        float bbox_offset = 0.5f);

}  // namespace kiln::runtime
