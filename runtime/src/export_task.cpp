// `kiln classification export` and `kiln detectnet_v2 export`: calibrate (int8), export, write the DeepStream files,
// and check the result in onnxruntime against LibTorch. The ONNX writer is kiln_export (runtime/export/src/); this is
// the subtask around it. Which network is exported is the model file's (export_task.h).
#include "kiln/runtime/export_task.h"

#include "export_task_detail.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <optional>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/networks/graph.h"
#include "kiln/export/calibrate.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/detection_data.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/runtime/evaluate.h"
#include "kiln/runtime/experiment.h"
#include "kiln/export/export.h"
#include "kiln/export/onnxruntime.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"
#include "kiln/data/sampler.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::runtime {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace detail {

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

data::LoaderOptions loader_options(const ClassificationConfig& cfg, size_t batch_size) {
  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  lo.num_workers = static_cast<int>(cfg.n_workers);
  lo.drop_last = false;
  lo.augment = cfg.eval_transform();
  return lo;
}

// Activation ranges over the images `next` yields (a batch at a time, `num_batches` of them), as the exported model's
// tensor names → scales (amax / 127). Writes the TensorRT cache.
std::map<std::string, float> calibrate_batches(const networks::Network& net, const ExportTaskOptions& opts,
                                               const ExportOptions& eo, const std::string& cache_path,
                                               size_t num_batches,
                                               const std::function<std::optional<at::Tensor>()>& next) {
  const auto method = parse_calibration_method(opts.cal_method);
  Calibrator calibrator;
  const networks::Graph graph = net.graph();
  Progress progress("Calibration", static_cast<int64_t>(num_batches), "batch");
  int64_t done = 0;
  at::NoGradGuard no_grad;
  while (auto images = next()) {
    throw_if_interrupted();
    calibrator.observe_input(*images);
    networks::run_graph(graph, net, *images, calibrator.observer());
    progress.update(++done);
  }
  progress.finish();
  const auto amax = calibrator.amax(method, opts.percentile);
  // Node names → the exported tensors' names (a conv folded with its batch norm writes the BN's tensor).
  std::map<std::string, float> by_tensor{{eo.input_name, amax.at(Calibrator::kInputTensor)}};
  for (const auto& [node, tensor] : onnx_tensor_names(graph, eo))
    if (auto it = amax.find(node); it != amax.end()) by_tensor[tensor] = it->second;
  const auto scales = scales_from_amax(by_tensor);
  write_trt_cache(cache_path, scales);
  log::info(log::cat("Calibration cache (TensorRT EntropyCalibration2 format, ", scales.size(), " tensors): ", cache_path));
  return scales;
}

// The first `batches` × `batch_size` of a seeded shuffle of `size` images.
std::vector<size_t> calibration_indices(size_t size, int64_t seed, const ExportTaskOptions& opts) {
  data::DistributedSampler sampler(size, 0, 1, static_cast<uint64_t>(seed), true, false);
  std::vector<size_t> indices = sampler.indices();
  const auto wanted = static_cast<size_t>(opts.batches * opts.batch_size);
  if (indices.size() > wanted) indices.resize(wanted);
  return indices;
}

void deepstream_model_properties(std::ostream& os, const std::string& onnx_file, const std::string& labels_file,
                                 const std::string& cal_cache_file, const std::string& data_type, int channels,
                                 int height, int width) {
  os << "infer-dims=" << channels << ";" << height << ";" << width << "\n";
  os << "model-color-format=" << (channels == 1 ? 2 : 0) << "\n";  // 2 gray, 0 RGB (kiln decodes images as RGB)
  os << "onnx-file=" << onnx_file << "\n";
  os << "labelfile-path=" << labels_file << "\n";
  if (!cal_cache_file.empty()) os << "int8-calib-file=" << cal_cache_file << "\n";
  os << "network-mode=" << (data_type == "int8" ? 1 : data_type == "fp16" ? 2 : 0) << "\n";  // 0 fp32, 1 int8, 2 fp16
}

}  // namespace detail

namespace {

using detail::calibrate_batches;
using detail::loader_options;
using detail::calibration_indices;
using detail::fixed;
using detail::calibrate_detectnet;
using detail::check_detectnet_model;
using detail::detectnet_spec;
using detail::DetectionImages;
using detail::open_detection_images;
using detail::verify_detectnet;
using detail::write_detectnet_deepstream_files;

// Classification: training images (a seeded shuffle, evaluation preprocessing).
std::map<std::string, float> calibrate(const networks::Network& net, const ClassificationConfig& cfg,
                                       const ExportTaskOptions& opts, const ExportOptions& eo,
                                       const std::string& cache_path) {
  const auto& a = net.architecture();
  const auto ds = open_source(cfg.train, {a.in_channels, a.height, a.width});
  const std::vector<size_t> indices = calibration_indices(ds->size(), cfg.random_seed, opts);
  const auto method = parse_calibration_method(opts.cal_method);
  log::info(log::cat("Calibrating INT8 ranges (", calibration_method_name(method), ") on ", indices.size(),
                     " images of ", cfg.train.key, " (", opts.batches, " batches of ", opts.batch_size, ")"));
  data::Loader loader(*ds, indices, loader_options(cfg, static_cast<size_t>(opts.batch_size)));
  return calibrate_batches(net, opts, eo, cache_path, loader.num_batches(), [&]() -> std::optional<at::Tensor> {
    auto batch = loader.next();
    if (!batch) return std::nullopt;
    return batch->images;
  });
}

// Images and labels of the evaluation data (the spec's val, else train), the first `limit` (0 = all).
std::pair<at::Tensor, at::Tensor> evaluation_images(const networks::Network& net, const ClassificationConfig& cfg,
                                                    int64_t limit, std::string* key) {
  const auto& a = net.architecture();
  const SourceConfig& src = cfg.val ? *cfg.val : cfg.train;
  *key = src.key;
  const auto ds = open_source(src, {a.in_channels, a.height, a.width});
  std::vector<size_t> indices(limit > 0 ? std::min<size_t>(ds->size(), static_cast<size_t>(limit)) : ds->size());
  std::iota(indices.begin(), indices.end(), 0);
  data::Loader loader(*ds, indices, loader_options(cfg, 512));
  std::vector<at::Tensor> images, labels;
  while (auto b = loader.next()) images.push_back(b->images), labels.push_back(b->labels);
  return {at::cat(images), at::cat(labels)};
}

double accuracy(const at::Tensor& logits, const at::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(at::kDouble).mean().item<double>();
}

// Runs the exported model in onnxruntime next to LibTorch. fp32/fp16: the logits must agree (max |Δ| within the data
// type's tolerance, else an Error). int8: the accuracy of both on the evaluation data.
nlohmann::json verify(networks::Network& net, const ClassificationConfig& cfg, const ExportTaskOptions& opts,
                      DataType type) {
  if (!onnxruntime_available()) {
    log::warn("onnxruntime (node + onnxruntime-node, installed by ./setup.sh) is not available: the exported model "
              "was checked by the ONNX checker only");
    return nlohmann::json::object();  // nothing to add to the KPIs (a null json cannot be merged into them)
  }
  std::string key;
  const int64_t limit = type == DataType::kInt8 ? opts.eval_images : 64;
  const auto [images, labels] = evaluation_images(net, cfg, limit, &key);
  at::Tensor reference;
  {
    at::NoGradGuard no_grad;
    reference = net.forward(images);
  }
  const auto t0 = Clock::now();
  const at::Tensor onnx = run_onnxruntime(opts.output_path, images);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json kpi{{"onnxruntime_version", onnxruntime_version()}, {"verified_images", images.size(0)}};
  if (type != DataType::kInt8) {
    const double diff = (onnx - reference).abs().max().item<double>();
    const double scale = reference.abs().max().item<double>();
    const double tolerance = type == DataType::kFp32 ? 1e-4 * std::max(1.0, scale) : std::max(1e-3, 0.01 * scale);
    log::info(log::cat("onnxruntime ", onnxruntime_version(), " vs LibTorch on ", images.size(0), " images of ", key,
                       ": max |logit difference| ", std::scientific, std::setprecision(2), diff, " (tolerance ",
                       tolerance, ")"));
    if (!(diff <= tolerance))
      throw Error(log::cat(opts.output_path, ": onnxruntime's logits differ from LibTorch's by ", diff,
                           " (more than ", tolerance, "): the export is wrong"));
    kpi["max_abs_logit_diff"] = diff;
    return kpi;
  }
  const double int8_acc = accuracy(onnx, labels), fp32_acc = accuracy(reference, labels);
  const double agree = onnx.argmax(1).eq(reference.argmax(1)).to(at::kDouble).mean().item<double>();
  log::info(log::cat("INT8 (QDQ in onnxruntime ", onnxruntime_version(), ") accuracy on ", images.size(0),
                     " images of ", key, ": ", fixed(int8_acc, 4), "  vs FP32 (LibTorch) ", fixed(fp32_acc, 4), "  (",
                     fixed(100 * (int8_acc - fp32_acc), 2), " points; top-1 agreement ", fixed(agree, 4), "; ",
                     fixed(static_cast<double>(images.size(0)) / seconds, 0), " img/s)"));
  kpi["int8_accuracy"] = int8_acc;
  kpi["fp32_accuracy"] = fp32_acc;
  kpi["int8_fp32_agreement"] = agree;
  return kpi;
}

void write_deepstream_files(const networks::Network& net, const ClassificationConfig& cfg,
                            const std::vector<std::string>& class_names, const ExportTaskOptions& opts,
                            const std::string& cache_path) {
  const fs::path dir = fs::path(opts.output_path).parent_path();
  const auto& a = net.architecture();
  std::string labels;
  for (int c = 0; c < a.num_classes; ++c)
    labels += (static_cast<size_t>(c) < class_names.size() ? class_names[static_cast<size_t>(c)] : std::to_string(c)) + "\n";
  const fs::path labels_path = dir / "labels.txt", config_path = dir / "nvinfer_config.txt";
  atomic_write_string(labels_path.string(), labels);
  const auto t = cfg.eval_transform();
  atomic_write_string(config_path.string(),
                      deepstream_config(fs::path(opts.output_path).filename().string(), "labels.txt",
                                        opts.data_type == "int8" ? fs::path(cache_path).filename().string() : "",
                                        opts.data_type, a.in_channels, a.height, a.width, a.num_classes, t.mean, t.std));
  log::info("DeepStream: " + config_path.string() + ", " + labels_path.string());
}



}  // namespace

std::string deepstream_config(const std::string& onnx_file, const std::string& labels_file,
                              const std::string& cal_cache_file, const std::string& data_type, int channels,
                              int height, int width, int num_classes, const std::vector<float>& mean,
                              const std::vector<float>& std) {
  const auto at = [](const std::vector<float>& v, int c) { return v[std::min(static_cast<size_t>(c), v.size() - 1)]; };
  double std_sum = 0;
  bool uneven = false;
  for (int c = 0; c < channels; ++c) {
    std_sum += at(std, c);
    uneven |= at(std, c) != at(std, 0);
  }
  std::ostringstream os;
  os << std::setprecision(10);
  os << "# DeepStream nvinfer config written by kiln export. nvinfer computes y = net-scale-factor * (x - offsets);\n"
        "# kiln trained on y = (x/255 - mean) / std, so offsets = 255*mean and net-scale-factor = 1/(255*std).\n";
  if (uneven) os << "# The per-channel std differ; nvinfer has one scale factor: their mean is used.\n";
  os << "[property]\n";
  os << "net-scale-factor=" << 1.0 / (255.0 * std_sum / channels) << "\n";
  os << "offsets=";
  for (int c = 0; c < channels; ++c) os << (c ? ";" : "") << 255.0 * at(mean, c);
  os << "\n";
  detail::deepstream_model_properties(os, onnx_file, labels_file, cal_cache_file, data_type, channels, height, width);
  os << "network-type=1\n";  // classifier
  os << "num-detected-classes=" << num_classes << "\n";
  os << "output-blob-names=output\n";
  os << "classifier-threshold=0.5\n";
  os << "maintain-aspect-ratio=0\n";
  os << "output-tensor-meta=0\n";
  return os.str();
}


void run_export(const ExportTaskOptions& opts) {
  if (opts.run.model_path.empty()) throw UsageError("export needs the model: -m <model.kiln>");
  if (opts.output_path.empty()) throw UsageError("export needs the output file: -o <model.onnx>");
  require_onnx_export("exporting " + opts.output_path);  // a build without it: exit 2 before any work
  ExportOptions eo;
  eo.data_type = parse_data_type(opts.data_type);
  eo.opset = opts.opset;
  if (eo.data_type == DataType::kInt8 && opts.opset < 13)
    throw UsageError(log::cat("--data_type int8 needs --target_opset 13 or newer (per-channel QuantizeLinear), got ",
                              opts.opset));
  if (opts.batches < 1 || opts.batch_size < 1)
    throw UsageError(log::cat("--batches and --batch_size must be positive, got ", opts.batches, " and ", opts.batch_size));
  parse_calibration_method(opts.cal_method);  // a bad name is exit 2 before any work
  const std::string out_dir = fs::path(opts.output_path).parent_path().string();
  ensure_writable_dir(out_dir.empty() ? "." : out_dir);
  const ResultsLayout results = ResultsLayout::resolve(opts.results_dir, opts.output_path);
  ensure_writable_dir(results.dir());
  const std::string cache_path = opts.cal_cache_file.empty() ? (fs::path(out_dir) / "cal.bin").string() : opts.cal_cache_file;

  const StatusLog status(results.status());
  try {
    status.write(StatusLog::Status::kStarted, "Starting export.");
    LoadedModel model = load_model(opts.run.model_path);
    model.net->eval();
    const std::string& arch = model.net->architecture().arch;
    const bool detector = arch == "detectnet_v2";
    if (!opts.network.empty() && (opts.network == "detectnet_v2") != detector)
      throw UsageError(log::cat(opts.run.model_path, " is a ", arch, " model: export it with `kiln ",
                                detector ? "detectnet_v2" : "classification", " export`"));
    // The network's spec: calibration data (int8), DeepStream settings and the verification images.
    std::optional<ClassificationConfig> cls;
    std::optional<DetectnetConfig> det;
    std::string origin;
    if (detector) {
      const ModelSpec spec = detectnet_spec(opts, model.file.meta);
      origin = spec.origin;
      det = DetectnetConfig::from_spec(spec.spec);
      check_detectnet_model(model, *det, opts.run.model_path, spec.origin);
    } else {
      const ModelSpec spec = model_spec(opts.run.spec_file, opts.run.overrides, model.file.meta, opts.run.model_path);
      origin = spec.origin;
      cls = ClassificationConfig::from_spec(spec.spec);
    }
    log::info(log::cat("Exporting ", opts.run.model_path, " (", model.net->architecture().summary(), ", ",
                       networks::count_parameters(*model.net), " parameters) to ", opts.output_path, " as ",
                       data_type_name(eo.data_type), ", opset ", eo.opset, "; data",
                       detector ? "" : " and normalisation", " from ", origin));
    const auto t0 = Clock::now();
    if (eo.data_type == DataType::kInt8)
      eo.activation_scales =
          detector ? calibrate_detectnet(*model.net, *det, open_detection_images(*det, det->train, false), opts, eo,
                                         cache_path)
                   : calibrate(*model.net, *cls, opts, eo, cache_path);
    const auto t1 = Clock::now();
    export_onnx(*model.net, eo, opts.output_path);
    const double export_s = std::chrono::duration<double>(Clock::now() - t1).count();
    const double calib_s = std::chrono::duration<double>(t1 - t0).count();
    const auto bytes = static_cast<double>(fs::file_size(opts.output_path));
    log::info(log::cat("Wrote ", opts.output_path, " (", fixed(bytes / (1 << 20), 2), " MiB) in ", fixed(export_s, 2),
                       " s", eo.data_type == DataType::kInt8 ? " after " + fixed(calib_s, 1) + " s of calibration" : ""));
    if (opts.gen_ds_config) {
      if (detector)
        write_detectnet_deepstream_files(*model.net, *det, opts, cache_path);
      else
        write_deepstream_files(*model.net, *cls, model.class_names, opts, cache_path);
    }
    nlohmann::json kpi{{"size_mb", bytes / (1 << 20)}, {"export_seconds", export_s},
                       {"param_count", networks::count_parameters(*model.net)}};
    if (eo.data_type == DataType::kInt8) kpi["calibration_seconds"] = calib_s;
    if (opts.verify && detector) {
      // The validation shards (a validation_fold of data_sources, or validation_data_source), else the training ones.
      DetectionImages images;
      if (!det->val.empty()) images = open_detection_images(*det, det->val, det->val.front().fold < 0);
      if (!images.data) {
        DetectionImages train = open_detection_images(*det, det->train, false);
        if (train.data || images.missing.empty()) images = std::move(train);
      }
      kpi.update(verify_detectnet(*model.net, *det, images, opts, eo.data_type));
    } else if (opts.verify) {
      kpi.update(verify(*model.net, *cls, opts, eo.data_type));
    }
    status.write(StatusLog::Status::kSuccess, "Export finished successfully.", {{"kpi", kpi}});
  } catch (const std::exception& e) {
    status.write(StatusLog::Status::kFailure, e.what());
    throw;
  }
}

}  // namespace kiln::runtime
