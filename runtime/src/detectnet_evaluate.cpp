// `kiln detectnet_v2 evaluate` and DetectNet_v2's validation metrics (detectnet_evaluation.h).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "detectnet_evaluation.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/detection/postprocess.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/evaluate.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"
#include "kiln/runtime/status_schema.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::runtime {
namespace kd = kiln::detection;
namespace {

constexpr int64_t kMaxBoxesPerImage = 100;  // detections and ground truth kept per image when ranks gather them

bool inside(const kd::Box& b, const EvaluationBox& e) {
  return b.height() >= e.minimum_height && b.height() <= e.maximum_height && b.width() >= e.minimum_width &&
         b.width() <= e.maximum_width;
}

nlohmann::json metrics_json(const DetectionMetrics& m, const std::vector<std::string>& names) {
  nlohmann::json j;
  j["mAP"] = std::isnan(m.map) ? nlohmann::json() : nlohmann::json(m.map);
  j["classes"] = nlohmann::json::array();
  for (const kd::ClassAp& c : m.classes)
    j["classes"].push_back({{"name", names[static_cast<size_t>(c.class_id)]},
                            {"ap", c.has_ground_truth() ? nlohmann::json(c.ap) : nlohmann::json()},
                            {"ground_truth", c.num_ground_truth},
                            {"detections", c.num_detections},
                            {"true_positives", c.true_positives},
                            {"false_positives", c.false_positives}});
  return j;
}

}  // namespace

DetectionLoaderOptions detection_loader_options(const DetectnetConfig& cfg, bool train, int64_t epoch) {
  DetectionLoaderOptions o;
  o.batch_size = static_cast<size_t>(cfg.batch_size);
  o.num_workers = cfg.n_workers;
  o.prefetch = static_cast<size_t>(2 * cfg.n_workers + 2);
  o.drop_last = train;
  o.train = train;
  o.seed = static_cast<uint64_t>(cfg.random_seed);
  o.epoch = epoch;
  o.augment = cfg.augment;
  o.grid = cfg.grid;
  return o;
}

DetectionMetrics evaluate_detection(networks::Network& net, const DetectionData& data, const DetectnetConfig& cfg,
                                    Distributed& dist) {
  const int64_t n = static_cast<int64_t>(data.size()), K = kMaxBoxesPerImage;
  // [image][slot] = (class + 1, x1, y1, x2, y2, confidence); class 0 marks an empty slot.
  at::Tensor dets = at::zeros({n, K, 6}, at::kDouble), truth = at::zeros({n, K, 5}, at::kDouble);
  {
    const bool was_training = net.is_training();
    net.eval();
    at::NoGradGuard no_grad;
    DetectionLoader loader(data, shard_indices(data.size(), dist.rank(), dist.world_size()),
                           detection_loader_options(cfg, /*train=*/false, 0));
    const int64_t C = static_cast<int64_t>(cfg.classes.size());
    auto d = dets.accessor<double, 3>();
    auto t = truth.accessor<double, 3>();
    while (auto batch = loader.next()) {
      throw_if_interrupted();
      dist.check();
      const at::Tensor out = net.forward(batch->images.to(dist.device())).to(at::kCPU).contiguous();
      const auto heads = networks::split_detectnet_heads(out, C);
      const at::Tensor cov = heads.cov.contiguous(), bbox = heads.bbox.contiguous();
      for (size_t r = 0; r < batch->indices.size(); ++r) {
        const int64_t img = static_cast<int64_t>(batch->indices[r]);
        const auto found = kd::detections_from_grids(cfg.grid, cov[static_cast<int64_t>(r)].data_ptr<float>(),
                                                     bbox[static_cast<int64_t>(r)].data_ptr<float>(), cfg.clustering);
        int64_t k = 0;
        for (const kd::Detection& x : found) {
          if (k == K) break;
          d[img][k][0] = x.class_id + 1, d[img][k][1] = x.box.x1, d[img][k][2] = x.box.y1;
          d[img][k][3] = x.box.x2, d[img][k][4] = x.box.y2, d[img][k][5] = x.confidence;
          ++k;
        }
        k = 0;
        for (const kd::TargetBox& g : batch->boxes[r]) {
          if (k == K) break;
          t[img][k][0] = g.class_id + 1, t[img][k][1] = g.box.x1, t[img][k][2] = g.box.y1;
          t[img][k][3] = g.box.x2, t[img][k][4] = g.box.y2;
          ++k;
        }
      }
    }
    if (was_training) net.train();
  }
  dist.sum(dets);
  dist.sum(truth);

  kd::ApAccumulator acc(static_cast<int>(cfg.classes.size()), cfg.ap);
  auto d = dets.accessor<double, 3>();
  auto t = truth.accessor<double, 3>();
  for (int64_t img = 0; img < n; ++img) {
    std::vector<kd::GroundTruth> gt;
    std::vector<kd::Detection> found;
    for (int64_t k = 0; k < K; ++k) {
      if (t[img][k][0] > 0) {
        const int c = static_cast<int>(t[img][k][0]) - 1;
        const kd::Box b{static_cast<float>(t[img][k][1]), static_cast<float>(t[img][k][2]),
                        static_cast<float>(t[img][k][3]), static_cast<float>(t[img][k][4])};
        if (inside(b, cfg.evaluation_boxes[static_cast<size_t>(c)])) gt.push_back({b, c});
      }
      if (d[img][k][0] > 0) {
        kd::Detection x;
        x.class_id = static_cast<int>(d[img][k][0]) - 1;
        x.box = {static_cast<float>(d[img][k][1]), static_cast<float>(d[img][k][2]), static_cast<float>(d[img][k][3]),
                 static_cast<float>(d[img][k][4])};
        x.confidence = static_cast<float>(d[img][k][5]);
        if (inside(x.box, cfg.evaluation_boxes[static_cast<size_t>(x.class_id)])) found.push_back(x);
      }
    }
    acc.add_image(gt, found);
  }
  DetectionMetrics m;
  m.classes = acc.compute();
  m.map = kd::mean_average_precision(m.classes);
  return m;
}

std::string ap_table(const DetectionMetrics& m, const std::vector<std::string>& names) {
  std::ostringstream os;
  size_t w = 5;
  for (const auto& n : names) w = std::max(w, n.size());
  os << std::left << std::setw(static_cast<int>(w)) << "class" << std::right << std::setw(10) << "AP" << std::setw(10)
     << "objects" << std::setw(12) << "detections" << "\n";
  for (const kd::ClassAp& c : m.classes) {
    os << std::left << std::setw(static_cast<int>(w)) << names[static_cast<size_t>(c.class_id)] << std::right
       << std::setw(10);
    if (c.has_ground_truth())
      os << std::fixed << std::setprecision(4) << c.ap;
    else
      os << "-";
    os << std::setw(10) << c.num_ground_truth << std::setw(12) << c.num_detections << "\n";
  }
  os << std::left << std::setw(static_cast<int>(w)) << "mAP" << std::right << std::setw(10) << std::fixed
     << std::setprecision(4) << m.map << "\n";
  return os.str();
}

void write_evaluation(const DetectionMetrics& m, const std::vector<std::string>& names, const std::string& dir,
                      const std::string& title) {
  ensure_writable_dir(dir);
  atomic_write_string(dir + "/metrics.json", metrics_json(m, names).dump(2) + "\n");
  std::vector<PrCurve> curves;
  for (const kd::ClassAp& c : m.classes) {
    if (!c.has_ground_truth()) continue;
    char label[128];
    std::snprintf(label, sizeof label, "%s  AP %.3f", names[static_cast<size_t>(c.class_id)].c_str(), c.ap);
    curves.push_back({label, c.recall, c.precision});
  }
  plot_pr_curves(curves, dir + "/pr_curves.png", title);
}

DetectnetExperiment load_detectnet_experiment(const RunOptions& opts) {
  specs::Spec spec = specs::load_spec(specs::detectnet_v2_schema(), opts.spec_file, opts.overrides);
  DetectnetConfig cfg = DetectnetConfig::from_spec(spec);
  return {std::move(spec), std::move(cfg)};
}

DetectnetExperiment load_detectnet_evaluation(const RunOptions& opts) {
  specs::Spec spec = specs::load_spec(detectnet_schema_without_path_checks(), opts.spec_file, opts.overrides);
  DetectnetConfig cfg = DetectnetConfig::from_spec(spec);
  std::vector<std::string> read{"dataset_config.validation_data_source.shards"};
  if (spec.has("dataset_config.validation_fold"))
    for (size_t i = 0; i < spec.count("dataset_config.data_sources"); ++i)
      read.push_back(log::cat("dataset_config.data_sources[", i, "].shards"));
  specs::require_existing_paths(spec, read);
  return {std::move(spec), std::move(cfg)};
}

void check_detectnet_spec(const RunOptions& opts) { (void)load_detectnet_experiment(opts); }

void check_detectnet_evaluation_spec(const RunOptions& opts) { (void)load_detectnet_evaluation(opts); }

nlohmann::json ap_status_fields(const DetectionMetrics& m, const std::vector<std::string>& names) {
  std::vector<std::pair<std::string, double>> class_ap;
  for (const auto& c : m.classes) class_ap.emplace_back(names[static_cast<size_t>(c.class_id)], c.ap);
  return {{"kpi", detection_map_kpi(m.map)}, {"categorical", detection_categorical(class_ap)}};
}

void run_detectnet_evaluate(const RunOptions& opts) {
  std::optional<Distributed> dist;
  std::optional<StatusLog> status;  // in the results folder (rank 0), as TAO's DetectNet_v2 evaluate writes it
  try {
    const DetectnetExperiment ex = load_detectnet_evaluation(opts);
    if (ex.cfg.val.empty())
      throw UsageError("detectnet_v2 evaluate: the spec has no validation data (dataset_config.validation_fold or "
                       "validation_data_source)");
    dist.emplace(opts.rank, select_device(opts.device, opts.rank));
    if (!dist->is_root()) log::set_level(log::Level::kWarn);
    configure_threads(opts.threads, opts.rank);
    LoadedModel model = load_model(opts.model_path);
    if (model.net->architecture().arch != "detectnet_v2")
      throw UsageError(opts.model_path + " is a " + model.net->architecture().arch + " model, not detectnet_v2");
    if (model.class_names != ex.cfg.classes)
      throw UsageError(opts.model_path + ": its classes differ from the spec's cost_function_config.target_classes");
    DetectnetConfig cfg = ex.cfg;
    cfg.arch = model.net->architecture();
    model.net->to(dist->device());
    const DetectionData val = open_detection_data(cfg, cfg.val);
    const ResultsLayout results = ResultsLayout::resolve(opts.results_dir, opts.model_path);
    if (dist->is_root()) {
      ensure_writable_dir(results.dir());
      status.emplace(results.status());
      status->write(StatusLog::Status::kStarted, "Starting DetectNet_v2 Evaluation");
    }
    log::info(log::cat("Evaluating ", opts.model_path, " on ", val.describe()));
    const DetectionMetrics m = evaluate_detection(*model.net, val, cfg, *dist);
    if (dist->is_root()) {
      log::info("\n" + ap_table(m, cfg.classes));
      const std::string dir = results.evaluation();
      write_evaluation(m, cfg.classes, dir, "kiln " + model.net->architecture().summary());
      log::info("Metrics written to " + dir + "/metrics.json, curves to " + dir + "/pr_curves.png");
      status->write(StatusLog::Status::kSuccess, "Evaluation finished successfully.", ap_status_fields(m, cfg.classes));
    }
    dist->barrier();
  } catch (const std::exception& e) {
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    if (dist) dist->abort_job(log::cat("rank ", opts.rank.rank, " failed: ", e.what()), exit_code_of(e));
    throw;
  }
}

}  // namespace kiln::runtime
