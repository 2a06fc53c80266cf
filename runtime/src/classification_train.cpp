// `kiln classification train`: what classification plugs into the run skeleton (run.h) — image datasets, the
// cross-entropy step, top-1/top-k validation, and its report columns.
#include <ATen/ATen.h>

#include <algorithm>
#include <iomanip>

#include <torch/csrc/autograd/grad_mode.h>

#include "kiln/common/log.h"
#include "kiln/data/loader.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/evaluate.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/run.h"
#include "kiln/runtime/status_schema.h"
#include "kiln/runtime/tasks.h"
#include "kiln/runtime/train_step.h"
#include "kiln/specs/classification.h"

namespace kiln::runtime {
namespace {

data::LoaderOptions epoch_loader_options(const ClassificationConfig& cfg, int64_t epoch) {
  data::LoaderOptions lo;
  lo.batch_size = static_cast<size_t>(cfg.batch_size);
  lo.num_workers = static_cast<int>(cfg.n_workers);
  lo.prefetch = static_cast<size_t>(2 * cfg.n_workers + 2);
  lo.drop_last = true;
  lo.seed = static_cast<uint64_t>(cfg.random_seed);
  lo.epoch = epoch;
  lo.augment = cfg.augment;
  return lo;
}

class ClassificationSteps final : public EpochSteps {
 public:
  ClassificationSteps(const data::Dataset& ds, std::vector<size_t> indices, data::LoaderOptions lo, TrainStep& step,
                      c10::Device device)
      : loader_(ds, std::move(indices), std::move(lo)), step_(step), device_(device) {}

  bool next() override {
    batch_ = loader_.next();
    return batch_.has_value();
  }

  StepStats run(double lr) override {
    const StepResult r = step_.run(batch_->images.to(device_, /*non_blocking=*/true),
                                   batch_->labels.to(device_, /*non_blocking=*/true), lr);
    return {r.loss, batch_->labels.size(0), r.correct};
  }

 private:
  data::Loader loader_;
  TrainStep& step_;
  c10::Device device_;
  std::optional<data::Batch> batch_;
};

class ClassificationTask final : public TrainingTask {
 public:
  explicit ClassificationTask(ClassificationConfig cfg) : cfg_(std::move(cfg)) {}

  void open_data(networks::Architecture& arch) override {
    train_ = open_source(cfg_.train, cfg_.input_shape());
    if (cfg_.val) {
      val_ = open_source(*cfg_.val, cfg_.input_shape());
      check_validation_classes(*train_, cfg_.train, *val_, *cfg_.val);
    }
    arch.num_classes = train_->num_classes();
  }
  size_t train_size() const override { return train_->size(); }
  std::string describe_data() const override {
    return log::cat(train_->size(), " training images", val_ ? ", " + std::to_string(val_->size()) + " validation" : "");
  }
  std::vector<std::string> class_names() const override { return train_->class_names(); }
  bool has_validation() const override { return val_ != nullptr; }

  void prepare(const RunContext& run) override {
    run_.emplace(run);
    step_.emplace(run.net, run.optimizer, cfg_.regularizer, cfg_.label_smoothing, run.reducer, run.amp);
  }

  std::unique_ptr<EpochSteps> epoch(int64_t epoch, const std::vector<size_t>& indices) override {
    return std::make_unique<ClassificationSteps>(*train_, indices, epoch_loader_options(cfg_, epoch), *step_,
                                                 run_->device);
  }

  // The first `count` validation images (training images without validation), named by their label, with the top
  // class and its probability drawn on them.
  std::vector<SampleImage> sample_images(int64_t count) override {
    const data::Dataset& ds = val_ ? *val_ : *train_;
    const size_t n = std::min(ds.size(), static_cast<size_t>(count));
    if (n == 0) return {};
    std::vector<size_t> indices(n);
    for (size_t i = 0; i < n; ++i) indices[i] = i;
    data::LoaderOptions lo;
    lo.batch_size = n;
    lo.num_workers = 0;
    lo.augment = cfg_.eval_transform();
    data::Loader loader(ds, indices, lo);
    const data::Batch batch = *loader.next();
    at::Tensor probs;
    {
      torch::NoGradGuard no_grad;
      run_->net.eval();
      probs = at::softmax(run_->net.forward(batch.images.to(run_->device)), 1).cpu();
      run_->net.train();
    }
    const auto& names = ds.class_names();
    std::vector<SampleImage> out;
    const data::ImageShape shape = ds.shape();
    std::vector<uint8_t> chw(shape.bytes());
    for (size_t i = 0; i < n; ++i) {
      const int64_t label = ds.get(i, chw.data());
      const int64_t top = probs[static_cast<int64_t>(i)].argmax().item<int64_t>();
      const double p = probs[static_cast<int64_t>(i)][top].item<double>();
      out.push_back({names[static_cast<size_t>(label)],
                     log::cat(names[static_cast<size_t>(top)], " ", std::fixed, std::setprecision(2), p),
                     rgb_from_chw(chw.data(), shape.channels, shape.height, shape.width)});
    }
    return out;
  }

  void validate(EpochRecord& rec) override {
    Distributed& dist = run_->dist;
    auto counts = evaluate_counts(run_->net, *val_, cfg_.eval_transform(), cfg_.eval_batch_size,
                                  static_cast<int>(cfg_.top_k), static_cast<int>(cfg_.n_workers),
                                  shard_indices(val_->size(), dist.rank(), dist.world_size()));
    counts.all_reduce(dist, val_->num_classes());
    const Metrics m = Metrics::from_counts(counts, static_cast<int>(cfg_.top_k), val_->class_names());
    rec.val_loss = m.loss, rec.val_accuracy = m.top1;
    log::info(log::cat("Validation: accuracy ", std::fixed, std::setprecision(4), m.top1, ", loss ", m.loss));
  }

  ReportFormat report_format() const override {
    return {{{"train_loss", &EpochRecord::train_loss},
             {"train_accuracy", &EpochRecord::train_accuracy},
             {"val_loss", &EpochRecord::val_loss},
             {"val_accuracy", &EpochRecord::val_accuracy},
             {"lr", &EpochRecord::lr},
             {"seconds", &EpochRecord::seconds},
             {"images_per_s", &EpochRecord::images_per_s}},
            "accuracy",
            true,
            // TAO's training.csv: Keras' logs acc, loss, lr (TAO's LR scheduler adds it), val_acc, val_loss, sorted.
            {{"acc", &EpochRecord::train_accuracy},
             {"loss", &EpochRecord::train_loss},
             {"lr", &EpochRecord::lr},
             {"val_acc", &EpochRecord::val_accuracy, true},
             {"val_loss", &EpochRecord::val_loss, true}}};
  }
  nlohmann::json kpi(const EpochRecord& r) const override { return classification_kpi(r); }
  nlohmann::json graphical(const EpochRecord& r) const override { return classification_graphical(r); }
  nlohmann::json final_kpi(const std::vector<EpochRecord>& history) const override {
    return classification_final_kpi(history);
  }

 private:
  ClassificationConfig cfg_;
  std::unique_ptr<data::Dataset> train_, val_;
  std::optional<RunContext> run_;
  std::optional<TrainStep> step_;
};

}  // namespace

void run_train(const RunOptions& opts) {
  run_training(opts, [&] {
    const specs::Spec spec = specs::load_spec(specs::classification_schema(), opts.spec_file, opts.overrides);
    ClassificationConfig cfg = ClassificationConfig::from_spec(spec);
    RunSettings settings = common_settings(cfg, "train_config.batch_size_per_gpu", spec.to_yaml());
    return LoadedTask{std::move(settings), std::make_unique<ClassificationTask>(std::move(cfg))};
  });
}

}  // namespace kiln::runtime
