// `kiln detectnet_v2 train` and `evaluate` (detectnet.h): the classification loop's shape (shared/STYLE.md: the loop
// is the story) with DetectNet_v2's data, cost and metrics.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/detection/postprocess.h"
#include "kiln/runtime/detection_data.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/evaluate.h"
#include "kiln/runtime/report.h"
#include "kiln/data/sampler.h"
#include "kiln/runtime/train_step.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::runtime {
namespace {

namespace kd = kiln::detection;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMaxBoxesPerImage = 100;  // detections and ground truth kept per image when ranks gather them

DetectionLoaderOptions loader_options(const DetectnetConfig& cfg, bool train, int64_t epoch) {
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

bool inside(const kd::Box& b, const EvaluationBox& e) {
  return b.height() >= e.minimum_height && b.height() <= e.maximum_height && b.width() >= e.minimum_width &&
         b.width() <= e.maximum_width;
}

struct DetectionMetrics {
  std::vector<kd::ClassAp> classes;
  double map = 0;
};

// AP on `data`: each rank infers its contiguous share; detections and ground truth (at most kMaxBoxesPerImage per
// image, boxes in the network's input pixels) travel in one all-reduced table, so every rank scores the whole set.
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
                           loader_options(cfg, /*train=*/false, 0));
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

// The spec (validated), its settings, and the data's class counts checked: every target class needs objects.
struct Experiment {
  specs::Spec spec;
  DetectnetConfig cfg;
};

Experiment load_experiment(const RunOptions& opts) {
  specs::Spec spec = specs::load_spec(specs::detectnet_v2_schema(), opts.spec_file, opts.overrides);
  DetectnetConfig cfg = DetectnetConfig::from_spec(spec);
  return {std::move(spec), std::move(cfg)};
}

void train_impl(const RunOptions& opts, const Experiment& ex, Distributed& dist, std::optional<StatusLog>& status) {
  DetectnetConfig cfg = ex.cfg;
  if (!opts.model_path.empty()) cfg.pretrained_model_path = opts.model_path;
  ensure_writable_dir(opts.results_dir);
  if (!dist.is_root()) log::set_level(log::Level::kWarn);
  const int threads = configure_threads(opts.threads, opts.rank);
  if (dist.is_root()) status.emplace(opts.results_dir + "/status.json");

  // 1. Data.
  const DetectionData train = open_detection_data(cfg, cfg.train);
  train.require_objects_of_every_class("dataset_config.data_sources");
  std::optional<DetectionData> val;
  if (!cfg.val.empty()) val.emplace(open_detection_data(cfg, cfg.val));
  const size_t n_train = cfg.max_samples > 0 ? std::min(cfg.max_samples, train.size()) : train.size();
  data::DistributedSampler sampler(n_train, dist.rank(), dist.world_size(), static_cast<uint64_t>(cfg.random_seed),
                                   /*shuffle=*/true, /*drop_last=*/false);
  const int64_t steps_per_epoch = static_cast<int64_t>(sampler.num_samples()) / cfg.batch_size;
  if (steps_per_epoch == 0)
    throw UsageError(log::cat("training_config.batch_size_per_gpu=", cfg.batch_size, " is larger than the ",
                              sampler.num_samples(), " training images per rank"));
  const int64_t total_steps = steps_per_epoch * cfg.n_epochs, global_batch = cfg.batch_size * dist.world_size();
  if (cfg.data_parallel.linear_lr_scaling) {
    cfg.schedule.learning_rate *= dist.world_size();
    cfg.schedule.min_learning_rate *= dist.world_size();
  }

  // 2. Model, optimizer, objective weights; resume or start from pretrained weights.
  RunStart start = start_run(opts.results_dir, cfg.pretrained_model_path, cfg.arch, cfg.freeze_blocks, cfg.optimizer,
                             cfg.schedule.at(0, total_steps), static_cast<uint64_t>(cfg.random_seed));
  const auto& latest = start.latest;
  auto& source = start.source;
  auto net = start.net;
  const auto& params = start.params;
  auto& optimizer = start.optimizer;
  ObjectiveWeights weights(cfg.cost);
  TrainState state;
  if (latest) {
    state = resume_from(*latest, *source, *net, *optimizer);
    if (source->meta.contains("objective_weights"))
      weights.load_state(source->meta.at("objective_weights").get<std::vector<double>>());
    log::info(log::cat("Resuming from ", *latest, " (epoch ", state.epoch, ", step ", state.global_step, ")"));
  }
  const c10::Device device = dist.device();
  move_run_to(start, device);  // restored on the CPU, then moved
  auto reducer = make_reducer(dist, *net, params, cfg.data_parallel);
  CheckpointContent content{net.get(), optimizer.get(), &state, ex.spec.to_yaml(), cfg.classes,
                            dist.world_size(), global_batch};

  log::info(log::cat("Model: ", net->architecture().summary(), ", ", networks::count_parameters(*net),
                     " parameters on ", device.str(), "; output grid ", cfg.grid.output_width, "x",
                     cfg.grid.output_height));
  log::info(log::cat("Data: ", train.describe(), val ? "; validation: " + val->describe() : std::string(), "; ",
                     dist.world_size(), " rank(s) x batch ", cfg.batch_size, " = global batch ", global_batch, ", ",
                     steps_per_epoch, " steps/epoch, ", threads, " thread(s) per rank"));
  log::info("Optimizer: adam, LR schedule " + cfg.schedule.describe());
  if (status)
    status->write(StatusLog::Status::kStarted, state.epoch > 0 ? "Resuming training." : "Starting Training Loop.",
                  {{"epoch", state.epoch}, {"max_epoch", cfg.n_epochs}});

  // 3. The loop.
  TrainStep step(*net, *optimizer, cfg.regularizer, 0.0, reducer.get());
  const int64_t C = static_cast<int64_t>(cfg.classes.size());
  net->train();
  for (int64_t epoch = state.epoch; epoch < cfg.n_epochs; ++epoch) {
    sampler.set_epoch(epoch);
    DetectionLoader loader(train, sampler.indices(), loader_options(cfg, /*train=*/true, epoch));
    std::optional<Progress> progress;
    if (dist.is_root()) progress.emplace(log::cat("Epoch ", epoch + 1, "/", cfg.n_epochs), steps_per_epoch);
    const auto t0 = Clock::now();
    double loss_sum = 0, lr = 0;
    int64_t seen = 0, step_in_epoch = 0;
    while (auto batch = loader.next()) {
      throw_if_interrupted();
      dist.check();
      dist.set_step(state.global_step);
      lr = cfg.schedule.at(state.global_step, total_steps);
      DetectionCost cost;
      step.step(
          [&] {
            const auto heads = networks::split_detectnet_heads(net->forward(batch->images.to(device)), C);
            cost = detection_cost(heads.cov, heads.bbox, batch->cov.to(device), batch->bbox.to(device),
                                  batch->cov_norm.to(device), cfg.cost, weights);
            return cost.total;
          },
          lr);
      weights.accumulate(cost);
      ++state.global_step, ++step_in_epoch;
      const int64_t b = batch->images.size(0);
      loss_sum += cost.total.item<double>() * static_cast<double>(b);
      seen += b;
      if (progress)
        progress->update(step_in_epoch, log::cat("loss ", std::setprecision(4), loss_sum / seen, " lr ", lr));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

    // Epoch metrics over all ranks; the autoweighting sums too (TAO all-reduces them), so every rank agrees.
    std::vector<double> sums = weights.epoch_sums();
    sums.push_back(loss_sum), sums.push_back(static_cast<double>(seen));
    at::Tensor totals = at::tensor(sums, at::kDouble);
    dist.sum(totals);
    std::vector<double> all(totals.data_ptr<double>(), totals.data_ptr<double>() + totals.numel());
    const double total_seen = all.back(), total_loss = all[all.size() - 2];
    all.resize(all.size() - 2);
    weights.end_epoch(all);
    dist.average(module_buffers(*net));
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.train_loss = total_loss / std::max(1.0, total_seen);
    rec.train_accuracy = -1;  // detection has no training accuracy; mAP goes in val_accuracy
    rec.lr = lr;
    rec.seconds = seconds;
    rec.images_per_s = total_seen / seconds;
    if (progress)
      progress->finish(log::cat("loss ", std::setprecision(4), rec.train_loss, " ", std::setprecision(0), std::fixed,
                                rec.images_per_s, " img/s"));
    const bool last = epoch + 1 == cfg.n_epochs;
    std::optional<DetectionMetrics> metrics;
    if (val && cfg.validation_period > 0 && epoch + 1 >= cfg.first_validation_epoch &&
        ((epoch + 1) % cfg.validation_period == 0 || last)) {
      metrics = evaluate_detection(*net, *val, cfg, dist);
      rec.val_accuracy = std::isnan(metrics->map) ? 0 : metrics->map;
      rec.val_loss = rec.train_loss;  // no validation cost is computed; keep the panel's two lines comparable
      log::info("Validation:\n" + ap_table(*metrics, cfg.classes));
    }
    state.epoch = epoch + 1;
    state.history.push_back(rec);

    // 4. Reports and checkpoints (rank 0).
    if (dist.is_root()) {
      nlohmann::json kpi{{"loss", rec.train_loss}, {"images_per_s", rec.images_per_s}};
      if (metrics) kpi["mAP"] = rec.val_accuracy;
      status->write(StatusLog::Status::kRunning, "Training loop in progress",
                    {{"epoch", state.epoch},
                     {"max_epoch", cfg.n_epochs},
                     {"time_per_epoch", format_duration(seconds)},
                     {"eta", format_duration(seconds * static_cast<double>(cfg.n_epochs - state.epoch))},
                     {"kpi", kpi},
                     {"graphical", {{"loss", rec.train_loss}, {"lr", rec.lr}}}});
      std::ostringstream csv;
      csv << "epoch,train_loss,mAP,lr,seconds,images_per_s\n" << std::setprecision(8);
      for (const auto& r : state.history)
        csv << r.epoch << "," << r.train_loss << "," << r.val_accuracy << "," << r.lr << "," << r.seconds << ","
            << r.images_per_s << "\n";
      atomic_write_string(opts.results_dir + "/training_history.csv", csv.str());
      plot_training_curves(state.history, opts.results_dir + "/training_curves.png",
                           "kiln " + net->architecture().summary(), "validation mAP");
      if (metrics) write_evaluation(*metrics, cfg.classes, opts.results_dir + "/evaluation", "validation");
      content.extra["objective_weights"] = weights.state();
      if (state.epoch % cfg.checkpoint_interval == 0 || last)
        log::info("Checkpoint: " + save_checkpoint(opts.results_dir, content));
    }
  }

  // 5. The final model.
  if (dist.is_root()) {
    save_final_model(opts.results_dir, content);
    nlohmann::json kpi{{"loss", state.history.empty() ? 0.0 : state.history.back().train_loss}};
    if (!state.history.empty() && state.history.back().val_accuracy >= 0)
      kpi["mAP"] = state.history.back().val_accuracy;
    status->write(StatusLog::Status::kSuccess, "Training finished successfully.",
                  {{"epoch", state.epoch}, {"max_epoch", cfg.n_epochs}, {"kpi", kpi}});
    log::info("Model written to " + opts.results_dir + "/model.kiln");
  }
  dist.barrier();
}

}  // namespace

void check_detectnet_spec(const RunOptions& opts) { (void)load_experiment(opts); }

void run_detectnet_train(const RunOptions& opts) {
  std::optional<StatusLog> status;
  std::optional<Distributed> dist;
  try {
    const Experiment ex = load_experiment(opts);
    dist.emplace(opts.rank, select_device(opts.device, opts.rank));
    train_impl(opts, ex, *dist, status);
  } catch (const std::exception& e) {
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    if (dist) dist->abort_job(log::cat("rank ", opts.rank.rank, " failed: ", e.what()));
    throw;
  }
}

void run_detectnet_evaluate(const RunOptions& opts) {
  std::optional<Distributed> dist;
  try {
    const Experiment ex = load_experiment(opts);
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
    log::info(log::cat("Evaluating ", opts.model_path, " on ", val.describe()));
    const DetectionMetrics m = evaluate_detection(*model.net, val, cfg, *dist);
    if (dist->is_root()) {
      log::info("\n" + ap_table(m, cfg.classes));
      const std::string base =
          opts.results_dir.empty() ? std::filesystem::path(opts.model_path).parent_path().string() : opts.results_dir;
      const std::string dir = base + "/evaluation";
      write_evaluation(m, cfg.classes, dir, "kiln " + model.net->architecture().summary());
      log::info("Metrics written to " + dir + "/metrics.json, curves to " + dir + "/pr_curves.png");
    }
    dist->barrier();
  } catch (const std::exception& e) {
    if (dist) dist->abort_job(log::cat("rank ", opts.rank.rank, " failed: ", e.what()));
    throw;
  }
}

}  // namespace kiln::runtime
