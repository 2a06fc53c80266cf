// `kiln detectnet_v2 export`'s part of the export subtask (export_task.cpp runs the steps): the spec and images a
// DetectNet_v2 model is calibrated and checked on, its INT8 calibration, the onnxruntime check of both heads, and
// the detector's DeepStream files.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <optional>
#include <sstream>

#include "export_task_detail.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/export/calibrate.h"
#include "kiln/export/export.h"
#include "kiln/runtime/export_task.h"
#include "kiln/export/onnxruntime.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::runtime {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace detail {

// ---- DetectNet_v2 ----------------------------------------------------------------------------------------------

// The DetectNet_v2 spec: -e when given, else the one stored in the model. Paths need not exist (the stored spec names
// the shards of the machine the model was trained on); what is missing is decided where the data is opened.
ModelSpec detectnet_spec(const ExportTaskOptions& opts, const nlohmann::json& model_meta) {
  const specs::Schema& schema = detectnet_schema_without_path_checks();
  const std::string& model_path = opts.run.model_path;
  if (!opts.run.spec_file.empty())
    return {specs::load_spec(schema, opts.run.spec_file, opts.run.overrides), opts.run.spec_file};
  const auto it = model_meta.find("spec");
  const std::string stored = it != model_meta.end() && it->is_string() ? it->get<std::string>() : "";
  if (stored.empty())
    throw UsageError(model_path + ": the model file holds no spec (kiln detectnet_v2 train and prune store one); pass "
                     "the spec the model was trained with: -e spec.yaml");
  return {specs::load_spec_text(schema, stored, model_path + " (stored spec)", "/", opts.run.overrides),
          "the spec stored in " + model_path};
}

DetectionImages open_detection_images(const DetectnetConfig& cfg, const std::vector<DetectionSource>& sources,
                                      bool validation_source) {
  DetectionImages r;
  r.key = validation_source ? "dataset_config.validation_data_source.shards" : "dataset_config.data_sources";
  for (size_t i = 0; i < sources.size(); ++i) {
    const std::string key =
        validation_source ? r.key : log::cat("dataset_config.data_sources[", i, "].shards");
    if (!fs::exists(fs::path(sources[i].shards) / "index.json")) {
      r.missing = key + ": " + sources[i].shards;
      return r;
    }
  }
  DetectionData data = open_detection_data(cfg, sources);
  if (data.size() == 0) {
    r.missing = r.key + ": no images in " + data.describe();
    return r;
  }
  r.data.emplace(std::move(data));
  return r;
}

// Evaluation preprocessing (no augmentation): [N, C, H, W] pixels / 255.
DetectionLoaderOptions detection_loader_options(const DetectnetConfig& cfg, size_t batch_size) {
  DetectionLoaderOptions o;
  o.batch_size = batch_size;
  o.num_workers = cfg.n_workers;
  o.prefetch = static_cast<size_t>(2 * cfg.n_workers + 2);
  o.drop_last = false;
  o.train = false;
  o.seed = static_cast<uint64_t>(cfg.random_seed);
  o.augment = cfg.augment;
  o.grid = cfg.grid;
  return o;
}

// The model must be the spec's: the same target classes (in order) and the preprocessing's image size.
void check_detectnet_model(const LoadedModel& model, const DetectnetConfig& cfg, const std::string& model_path,
                           const std::string& origin) {
  const auto& a = model.net->architecture();
  if ((!model.class_names.empty() && model.class_names != cfg.classes) ||
      a.num_classes != static_cast<int>(cfg.classes.size()))
    throw UsageError(model_path + ": its classes differ from cost_function_config.target_classes of " + origin);
  const auto& pre = cfg.augment.preprocessing;
  if (a.in_channels != pre.output_channels || a.height != pre.output_height || a.width != pre.output_width)
    throw UsageError(log::cat(model_path, " takes ", a.in_channels, "x", a.height, "x", a.width,
                              " (C x H x W) images, but augmentation_config.preprocessing (output_image_channel, "
                              "output_image_height, output_image_width) of ",
                              origin, " says ", pre.output_channels, "x", pre.output_height, "x", pre.output_width));
}

std::map<std::string, float> calibrate_detectnet(const networks::Network& net, const DetectnetConfig& cfg,
                                                 const DetectionImages& train, const ExportTaskOptions& opts,
                                                 const ExportOptions& eo, const std::string& cache_path) {
  if (!train.data)
    throw UsageError("--data_type int8 calibrates on the training images, and the spec's " + train.missing +
                     " is not there (give the shards with -e or an override: \"" + train.key + "=[{shards: DIR}]\")");
  const std::vector<size_t> indices = calibration_indices(train.data->size(), cfg.random_seed, opts);
  const auto method = parse_calibration_method(opts.cal_method);
  log::info(log::cat("Calibrating INT8 ranges (", calibration_method_name(method), ") on ", indices.size(),
                     " of the ", train.data->describe(), " (", train.key, "; ", opts.batches, " batches of ",
                     opts.batch_size, ")"));
  DetectionLoader loader(*train.data, indices, detection_loader_options(cfg, static_cast<size_t>(opts.batch_size)));
  return calibrate_batches(net, opts, eo, cache_path, loader.num_batches(), [&]() -> std::optional<at::Tensor> {
    auto batch = loader.next();
    if (!batch) return std::nullopt;
    return batch->images;
  });
}

// Runs the exported model in onnxruntime next to LibTorch's heads, batch by batch, on the evaluation images (the
// validation shards, else the training shards; without either, fp32/fp16 use deterministic random images).
// fp32/fp16: each output must agree (max |Δ| within the data type's tolerance of that output, else an Error).
// int8: the agreement of the coverage with FP32 (docs/export.md, "DetectNet_v2").
nlohmann::json verify_detectnet(networks::Network& net, const DetectnetConfig& cfg, const DetectionImages& eval,
                                const ExportTaskOptions& opts, DataType type) {
  if (!onnxruntime_available()) {
    log::warn("onnxruntime (node + onnxruntime-node, installed by ./setup.sh) is not available: the exported model "
              "was checked by the ONNX checker only");
    return nlohmann::json::object();  // nothing to add to the KPIs (a null json cannot be merged into them)
  }
  const auto& a = net.architecture();
  const int64_t C = a.num_classes;
  const networks::Graph graph = net.graph();
  const std::string cov_name = graph.outputs.at(0).name, bbox_name = graph.outputs.at(1).name;

  // The images, a batch at a time.
  std::function<std::optional<at::Tensor>()> next;
  std::optional<DetectionLoader> loader;
  std::string source;
  if (eval.data) {
    const int64_t limit = type == DataType::kInt8 ? opts.eval_images : 16;
    std::vector<size_t> indices(limit > 0 ? std::min<size_t>(eval.data->size(), static_cast<size_t>(limit))
                                          : eval.data->size());
    std::iota(indices.begin(), indices.end(), 0);
    loader.emplace(*eval.data, indices, detection_loader_options(cfg, 16));
    next = [&]() -> std::optional<at::Tensor> {
      auto b = loader->next();
      if (!b) return std::nullopt;
      return b->images;
    };
    source = "images of " + eval.key;
  } else {
    if (type == DataType::kInt8) throw UsageError("int8 verification needs the spec's " + eval.missing);
    log::info("The spec's " + eval.missing + " is not there: comparing onnxruntime with LibTorch on 8 deterministic "
              "random images (uniform in [0, 1), seed 0) instead");
    at::Generator gen = at::detail::createCPUGenerator(0);
    at::Tensor random = at::rand({8, a.in_channels, a.height, a.width}, gen);
    next = [random, done = false]() mutable -> std::optional<at::Tensor> {
      if (done) return std::nullopt;
      done = true;
      return random;
    };
    source = "random images";
  }

  int64_t images = 0, cells = 0, agree = 0, pos_fp32 = 0, pos_int8 = 0, pos_both = 0;
  double cov_diff = 0, bbox_diff = 0, bbox_diff_at_objects = 0, cov_abs = 0, bbox_abs = 0, cov_diff_sum = 0;
  double seconds = 0;
  while (auto x = next()) {
    throw_if_interrupted();
    networks::DetectNetHeads ref;
    at::Tensor out;
    {
      at::NoGradGuard no_grad;
      out = net.forward(*x);
      ref = networks::split_detectnet_heads(out, C);
    }
    const auto t0 = Clock::now();
    const std::vector<OnnxOutput> onnx = run_onnxruntime_outputs(opts.output_path, *x);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    auto find = [&](const std::string& name, const at::Tensor& like) {
      for (const OnnxOutput& o : onnx)
        if (o.name == name) {
          if (o.value.sizes() != like.sizes())
            throw Error(log::cat(opts.output_path, ": onnxruntime's output '", name, "' has shape ", o.value.sizes(),
                                 ", LibTorch's is ", like.sizes()));
          return o.value;
        }
      throw Error(opts.output_path + ": the model has no output '" + name + "'");
    };
    const at::Tensor cov = find(cov_name, ref.cov), bbox = find(bbox_name, ref.bbox);
    images += x->size(0);
    const at::Tensor dc = (cov - ref.cov).abs(), db = (bbox - ref.bbox).abs();
    cov_diff = std::max(cov_diff, dc.max().item<double>());
    bbox_diff = std::max(bbox_diff, db.max().item<double>());
    cov_abs = std::max(cov_abs, ref.cov.abs().max().item<double>());
    bbox_abs = std::max(bbox_abs, ref.bbox.abs().max().item<double>());
    cov_diff_sum += dc.to(at::kDouble).sum().item<double>();
    const at::Tensor p32 = ref.cov > 0.5, p8 = cov > 0.5;
    cells += p32.numel();
    agree += p32.eq(p8).sum().item<int64_t>();
    pos_fp32 += p32.sum().item<int64_t>();
    pos_int8 += p8.sum().item<int64_t>();
    pos_both += p32.logical_and(p8).sum().item<int64_t>();
    // The boxes that matter: the 4 bbox channels of a class where FP32's coverage is above 0.5.
    const at::Tensor at_objects = p32.unsqueeze(2).expand({p32.size(0), C, 4, p32.size(2), p32.size(3)})
                                      .reshape({p32.size(0), 4 * C, p32.size(2), p32.size(3)});
    if (at_objects.any().item<bool>())
      bbox_diff_at_objects = std::max(bbox_diff_at_objects, db.masked_select(at_objects).max().item<double>());
  }
  nlohmann::json kpi{{"onnxruntime_version", onnxruntime_version()}, {"verified_images", images},
                     {"verification_data", eval.data ? eval.key : "random images"}};
  if (type != DataType::kInt8) {
    auto tolerance = [&](double scale) {
      return type == DataType::kFp32 ? 1e-4 * std::max(1.0, scale) : std::max(1e-3, 0.01 * scale);
    };
    const double cov_tol = tolerance(cov_abs), bbox_tol = tolerance(bbox_abs);
    log::info(log::cat("onnxruntime ", onnxruntime_version(), " vs LibTorch on ", images, " ", source, ": max |",
                       cov_name, " difference| ", std::scientific, std::setprecision(2), cov_diff, " (tolerance ",
                       cov_tol, "), max |", bbox_name, " difference| ", bbox_diff, " (tolerance ", bbox_tol, ")"));
    if (!(cov_diff <= cov_tol) || !(bbox_diff <= bbox_tol))
      throw Error(log::cat(opts.output_path, ": onnxruntime's outputs differ from LibTorch's by ", cov_diff, " (",
                           cov_name, ", tolerance ", cov_tol, ") and ", bbox_diff, " (", bbox_name, ", tolerance ",
                           bbox_tol, "): the export is wrong"));
    kpi["max_abs_cov_diff"] = cov_diff;
    kpi["max_abs_bbox_diff"] = bbox_diff;
    return kpi;
  }
  const double agreement = cells ? static_cast<double>(agree) / static_cast<double>(cells) : 1.0;
  const int64_t pos_any = pos_fp32 + pos_int8 - pos_both;
  const double positive_iou = pos_any ? static_cast<double>(pos_both) / static_cast<double>(pos_any) : 1.0;
  log::info(log::cat("INT8 (QDQ in onnxruntime ", onnxruntime_version(), ") vs FP32 (LibTorch) on ", images, " ",
                     source, ": coverage max |Δ| ", fixed(cov_diff, 4), ", mean |Δ| ",
                     fixed(cells ? cov_diff_sum / static_cast<double>(cells) : 0.0, 5), "; cov > 0.5 agrees on ",
                     fixed(100 * agreement, 3), " % of ", cells, " grid cells (", pos_fp32, " FP32 / ", pos_int8,
                     " INT8 cells above 0.5, IoU ", fixed(positive_iou, 4), "); bbox max |Δ| where FP32 cov > 0.5: ",
                     fixed(bbox_diff_at_objects, 3), " (", fixed(images / std::max(seconds, 1e-9), 0), " img/s)"));
  kpi["int8_cov_max_abs_diff"] = cov_diff;
  kpi["int8_cov_mean_abs_diff"] = cells ? cov_diff_sum / static_cast<double>(cells) : 0.0;
  kpi["int8_cov_agreement"] = agreement;
  kpi["int8_cov_positive_iou"] = positive_iou;
  kpi["fp32_cov_positive_cells"] = pos_fp32;
  kpi["int8_cov_positive_cells"] = pos_int8;
  kpi["int8_bbox_max_abs_diff"] = bbox_diff;
  kpi["int8_bbox_max_abs_diff_at_objects"] = bbox_diff_at_objects;
  return kpi;
}

void write_detectnet_deepstream_files(const networks::Network& net, const DetectnetConfig& cfg,
                                      const ExportTaskOptions& opts, const std::string& cache_path) {
  const fs::path dir = fs::path(opts.output_path).parent_path();
  const auto& a = net.architecture();
  std::string labels;
  for (const std::string& c : cfg.classes) labels += c + "\n";
  std::vector<DetectnetDsClass> classes;
  bool dbscan = false;
  for (const auto& c : cfg.clustering) {
    const bool nms = c.clustering_algorithm == detection::ClusteringConfig::kNms;
    dbscan |= !nms;
    classes.push_back({c.coverage_threshold, nms ? c.nms_iou_threshold : -1.0f});
  }
  if (dbscan)
    log::info("DeepStream: nvinfer clusters with NMS (cluster-mode=2, as TAO's DeepStream samples); the spec's DBSCAN "
              "settings are not carried over, only its coverage_threshold (pre-cluster-threshold)");
  std::vector<std::string> blobs;
  for (const auto& o : net.graph().outputs) blobs.push_back(o.name);
  const fs::path labels_path = dir / "labels.txt", config_path = dir / "nvinfer_config.txt";
  atomic_write_string(labels_path.string(), labels);
  atomic_write_string(config_path.string(),
                      deepstream_detectnet_config(fs::path(opts.output_path).filename().string(), "labels.txt",
                                                  opts.data_type == "int8" ? fs::path(cache_path).filename().string()
                                                                           : "",
                                                  opts.data_type, a.in_channels, a.height, a.width, blobs, classes,
                                                  cfg.grid.bbox_scale, cfg.grid.bbox_offset));
  log::info("DeepStream: " + config_path.string() + ", " + labels_path.string());
}

}  // namespace detail

std::string deepstream_detectnet_config(const std::string& onnx_file, const std::string& labels_file,
                                        const std::string& cal_cache_file, const std::string& data_type, int channels,
                                        int height, int width, const std::vector<std::string>& output_blobs,
                                        const std::vector<DetectnetDsClass>& classes, float bbox_scale,
                                        float bbox_offset) {
  std::ostringstream os;
  os << std::setprecision(6);
  os << "# DeepStream nvinfer config written by kiln export for DetectNet_v2. nvinfer computes\n"
        "# y = net-scale-factor * (x - offsets); kiln's DetectNet_v2 takes y = x/255 (no mean, no std), as TAO's.\n";
  if (bbox_scale != 35.0f || bbox_offset != 0.5f)
    os << "# Warning: the model's bbox scale/offset are " << bbox_scale << "/" << bbox_offset
       << "; nvinfer's built-in DetectNet_v2 parser assumes TAO's defaults 35/0.5: use a custom parser.\n";
  os << "[property]\n";
  os << "net-scale-factor=0.00392156862745098\n";
  os << "offsets=";
  for (int c = 0; c < channels; ++c) os << (c ? ";" : "") << "0.0";
  os << "\n";
  detail::deepstream_model_properties(os, onnx_file, labels_file, cal_cache_file, data_type, channels, height, width);
  os << "network-type=0\n";  // detector
  os << "num-detected-classes=" << classes.size() << "\n";
  os << "output-blob-names=";
  for (size_t i = 0; i < output_blobs.size(); ++i) os << (i ? ";" : "") << output_blobs[i];
  os << "\n";
  os << "cluster-mode=2\n";  // NMS (TAO's DeepStream samples for DetectNet_v2)
  os << "maintain-aspect-ratio=0\n";
  os << "output-tensor-meta=0\n";
  // Thresholds from the spec's postprocessing_config: class 0's for every class, then the classes that differ.
  const DetectnetDsClass all = classes.empty() ? DetectnetDsClass{} : classes.front();
  auto attrs = [&](const std::string& section, const DetectnetDsClass& c) {
    os << "\n[" << section << "]\n";
    os << "pre-cluster-threshold=" << c.pre_cluster_threshold << "\n";
    if (c.nms_iou_threshold >= 0) os << "nms-iou-threshold=" << c.nms_iou_threshold << "\n";
  };
  attrs("class-attrs-all", all);
  for (size_t i = 1; i < classes.size(); ++i)
    if (classes[i].pre_cluster_threshold != all.pre_cluster_threshold ||
        classes[i].nms_iou_threshold != all.nms_iou_threshold)
      attrs("class-attrs-" + std::to_string(i), classes[i]);
  return os.str();
}

}  // namespace kiln::runtime
