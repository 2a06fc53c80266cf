// `kiln detectnet_v2 train`: what DetectNet_v2 plugs into the run skeleton (run.h) — shard folds with rasterised
// targets, TAO's detection cost with its objective autoweighting, mAP validation, and its report columns.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "detectnet_evaluation.h"
#include "kiln/common/log.h"
#include "kiln/networks/detectnet_v2.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/detection_loss.h"
#include "kiln/runtime/detection_overlay.h"
#include "kiln/runtime/run.h"
#include "kiln/runtime/status_schema.h"
#include "kiln/runtime/train_step.h"

namespace kiln::runtime {
namespace {

class DetectnetSteps final : public EpochSteps {
 public:
  DetectnetSteps(const DetectionData& data, std::vector<size_t> indices, DetectionLoaderOptions lo, TrainStep& step,
                 const RunContext& run, const DetectnetConfig& cfg, ObjectiveWeights& weights)
      : loader_(data, std::move(indices), std::move(lo)), step_(step), run_(run), cfg_(cfg), weights_(weights) {}

  bool next() override {
    batch_ = loader_.next();
    return batch_.has_value();
  }

  StepStats run(double lr) override {
    const c10::Device device = run_.device;
    const int64_t C = static_cast<int64_t>(cfg_.classes.size());
    DetectionCost cost;
    step_.step(
        [&] {
          const auto heads = networks::split_detectnet_heads(run_.net.forward(batch_->images.to(device)), C);
          cost = detection_cost(heads.cov, heads.bbox, batch_->cov.to(device), batch_->bbox.to(device),
                                batch_->cov_norm.to(device), cfg_.cost, weights_);
          return cost.total;
        },
        lr);
    weights_.accumulate(cost);
    return {cost.total.item<double>(), batch_->images.size(0), 0};
  }

 private:
  DetectionLoader loader_;
  TrainStep& step_;
  const RunContext& run_;
  const DetectnetConfig& cfg_;
  ObjectiveWeights& weights_;
  std::optional<DetectionBatch> batch_;
};

// A network input ([C, H, W] floats in [0, 1]) as an RGB picture.
RgbImage input_rgb(const at::Tensor& chw) {
  const at::Tensor bytes = (chw * 255.0).round().clamp(0, 255).to(at::kByte).contiguous();
  return rgb_from_chw(bytes.data_ptr<uint8_t>(), static_cast<int>(bytes.size(0)), static_cast<int>(bytes.size(1)),
                      static_cast<int>(bytes.size(2)));
}

class DetectnetTask final : public TrainingTask {
 public:
  DetectnetTask(DetectnetConfig cfg, DetectionOutputs drawing)
      : cfg_(std::move(cfg)), weights_(cfg_.cost), drawing_(std::move(drawing)) {}

  // Every target class needs objects to learn from.
  void open_data(networks::Architecture&) override {
    train_.emplace(open_detection_data(cfg_, cfg_.train));
    train_->require_objects_of_every_class("dataset_config.data_sources");
    if (!cfg_.val.empty()) val_.emplace(open_detection_data(cfg_, cfg_.val));
  }
  size_t train_size() const override {
    return cfg_.max_samples > 0 ? std::min(cfg_.max_samples, train_->size()) : train_->size();
  }
  std::string describe_data() const override {
    return train_->describe() + (val_ ? "; validation: " + val_->describe() : std::string());
  }
  std::vector<std::string> class_names() const override { return cfg_.classes; }
  bool has_validation() const override { return val_.has_value(); }

  void restore(const nlohmann::json& meta) override {
    if (meta.contains("objective_weights"))
      weights_.load_state(meta.at("objective_weights").get<std::vector<double>>());
  }
  nlohmann::json checkpoint_extra() const override { return {{"objective_weights", weights_.state()}}; }
  std::string describe_model() const override {
    return log::cat("; output grid ", cfg_.grid.output_width, "x", cfg_.grid.output_height);
  }
  void prepare(const RunContext& run) override {
    run_.emplace(run);
    step_.emplace(run.net, run.optimizer, cfg_.regularizer, 0.0, run.reducer, run.amp);
  }

  std::unique_ptr<EpochSteps> epoch(int64_t epoch, const std::vector<size_t>& indices) override {
    return std::make_unique<DetectnetSteps>(*train_, indices, detection_loader_options(cfg_, /*train=*/true, epoch),
                                            *step_, *run_, cfg_, weights_);
  }
  // The autoweighting sums are reduced with the epoch's metrics (TAO all-reduces them), so every rank agrees.
  std::vector<double> epoch_sums() const override { return weights_.epoch_sums(); }
  void end_epoch(const std::vector<double>& summed) override { weights_.end_epoch(summed); }
  void restore_epoch_sums(const std::vector<double>& sums) override { weights_.restore_epoch_sums(sums); }

  void validate(EpochRecord& rec) override {
    metrics_ = evaluate_detection(run_->net, *val_, cfg_, run_->dist);
    rec.val_accuracy = std::isnan(metrics_->map) ? 0 : metrics_->map;
    rec.val_loss = rec.train_loss;  // no validation cost is computed; keep the panel's two lines comparable
    log::info("Validation:\n" + ap_table(*metrics_, cfg_.classes));
  }
  void write_validation(const ResultsLayout& results) override {
    write_evaluation(*metrics_, cfg_.classes, results.evaluation(), "validation");
  }

  // training_accuracy is not a detection metric: mAP goes in val_accuracy.
  ReportFormat report_format() const override {
    return {{{"train_loss", &EpochRecord::train_loss},
             {"mAP", &EpochRecord::val_accuracy},
             {"lr", &EpochRecord::lr},
             {"seconds", &EpochRecord::seconds},
             {"images_per_s", &EpochRecord::images_per_s}},
            "validation mAP",
            false};
  }
  nlohmann::json kpi(const EpochRecord& r) const override { return detection_kpi(r); }
  nlohmann::json graphical(const EpochRecord& r) const override { return detection_graphical(r); }
  nlohmann::json categorical(const EpochRecord& r) const override {
    if (r.val_accuracy < 0 || !metrics_) return nlohmann::json::object();  // not validated this epoch
    return ap_status_fields(*metrics_, cfg_.classes).at("categorical");
  }
  nlohmann::json final_kpi(const std::vector<EpochRecord>& history) const override {
    return detection_final_kpi(history);
  }

  // The first `count` validation scenes (training scenes without validation) with the boxes the model finds, drawn
  // as inference draws them (bbox_handler_config's thresholds and colours).
  std::vector<SampleImage> sample_images(int64_t count) override {
    const DetectionData& data = val_ ? *val_ : *train_;
    std::vector<size_t> indices(std::min(data.size(), static_cast<size_t>(count)));
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
    if (indices.empty()) return {};
    DetectionLoader loader(data, indices, detection_loader_options(cfg_, /*train=*/false, 0));
    networks::Network& net = run_->net;
    const bool was_training = net.is_training();
    net.eval();
    at::NoGradGuard no_grad;
    std::vector<SampleImage> out;
    while (auto batch = loader.next()) {
      const at::Tensor raw = net.forward(batch->images.to(run_->device)).to(at::kCPU).contiguous();
      const auto heads = networks::split_detectnet_heads(raw, static_cast<int64_t>(cfg_.classes.size()));
      const at::Tensor cov = heads.cov.contiguous(), bbox = heads.bbox.contiguous();
      for (size_t r = 0; r < batch->indices.size(); ++r) {
        const auto row = static_cast<int64_t>(r);
        std::vector<detection::KittiObject> objects;
        std::vector<int> class_ids;
        for (const detection::Detection& d : detection::detections_from_grids(
                 cfg_.grid, cov[row].data_ptr<float>(), bbox[row].data_ptr<float>(), cfg_.clustering)) {
          detection::KittiObject o;
          o.type = cfg_.classes[static_cast<size_t>(d.class_id)];
          o.box = d.box;
          o.score = d.confidence;
          objects.push_back(o);
          class_ids.push_back(d.class_id);
        }
        out.push_back({log::cat(batch->boxes[r].size(), " objects"), log::cat(objects.size(), " detections"),
                       draw_detections(input_rgb(batch->images[row]), objects, class_ids, drawing_)});
      }
    }
    if (was_training) net.train();
    return out;
  }

 private:
  DetectnetConfig cfg_;
  ObjectiveWeights weights_;
  std::optional<DetectionData> train_, val_;
  std::optional<RunContext> run_;
  std::optional<TrainStep> step_;
  std::optional<DetectionMetrics> metrics_;
  DetectionOutputs drawing_;
};

}  // namespace

void run_detectnet_train(const RunOptions& opts) {
  run_training(opts, [&] {
    DetectnetExperiment ex = load_detectnet_experiment(opts);
    RunSettings settings = common_settings(ex.cfg, "training_config.batch_size_per_gpu", ex.spec.to_yaml());
    settings.first_validation_epoch = ex.cfg.first_validation_epoch;
    settings.n_epochs_key = "training_config.num_epochs";
    settings.first_validation_epoch_key = "evaluation_config.first_validation_epoch";
    DetectionOutputs drawing = DetectionOutputs::from_spec(ex.spec, ex.cfg.classes);
    return LoadedTask{std::move(settings), std::make_unique<DetectnetTask>(std::move(ex.cfg), std::move(drawing))};
  });
}

}  // namespace kiln::runtime
