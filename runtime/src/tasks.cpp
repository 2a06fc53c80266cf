// `evaluate` and `dataset_convert`: the subtasks besides train.
#include <filesystem>
#include <iomanip>

#include "kiln/runtime/checkpoint.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/evaluate.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"
#include "kiln/runtime/status_schema.h"
#include "kiln/runtime/tasks.h"
#include "kiln/specs/classification.h"

namespace fs = std::filesystem;

namespace kiln::runtime {

void check_experiment_spec(const RunOptions& opts) {
  ClassificationConfig::from_spec(specs::load_spec(specs::classification_schema(), opts.spec_file, opts.overrides));
}

void check_evaluation_spec(const RunOptions& opts) { (void)evaluation_config(opts.spec_file, opts.overrides); }

void run_evaluate(const RunOptions& opts) {
  const ClassificationConfig cfg = evaluation_config(opts.spec_file, opts.overrides);
  if (opts.model_path.empty()) throw UsageError("evaluate needs the model to evaluate: -m <model.kiln>");
  const ResultsLayout results = ResultsLayout::resolve(opts.results_dir, opts.model_path);
  ensure_writable_dir(results.dir());
  const c10::Device device = select_device(opts.device, opts.rank);
  Distributed dist(opts.rank, device);  // N ranks each evaluate a shard; rank 0 reports
  if (!dist.is_root()) log::set_level(log::Level::kWarn);
  configure_threads(opts.threads, opts.rank);
  const StatusLog status(results.status());
  try {
    LoadedModel model = load_model(opts.model_path);
    model.net->to(device);
    const SourceConfig& src = cfg.val ? *cfg.val : cfg.train;
    const auto& a = model.net->architecture();
    const auto ds = open_source(src, {a.in_channels, a.height, a.width});
    if (ds->num_classes() > a.num_classes)
      throw DataError(log::cat(src.key, ": the data has ", ds->num_classes(), " classes but the model predicts ", a.num_classes));
    log::info(log::cat("Evaluating ", opts.model_path, " (", a.summary(), ") on ", ds->size(), " images of ", src.key));
    if (dist.is_root()) status.write(StatusLog::Status::kStarted, "Starting evaluation.");
    auto counts = evaluate_counts(*model.net, *ds, cfg.eval_transform(), cfg.eval_batch_size,
                                  static_cast<int>(cfg.top_k), static_cast<int>(cfg.n_workers),
                                  shard_indices(ds->size(), dist.rank(), dist.world_size()));
    counts.all_reduce(dist, a.num_classes);
    if (!dist.is_root()) return;
    const auto names = model.class_names.empty() ? ds->class_names() : model.class_names;
    const Metrics m = Metrics::from_counts(counts, static_cast<int>(cfg.top_k), names);
    const std::string out = results.evaluation();
    write_metrics(m, out);
    log::info(m.table());
    log::info(m.confusion_table(out + "/confusion_matrix.csv"));
    log::info("Metrics written to " + out);
    status.write(StatusLog::Status::kSuccess, "Evaluation finished successfully.",
                 {{"kpi", {{tao::kTopKAccuracy, m.topk}, {"top1_accuracy", m.top1}, {"loss", m.loss}}},
                  {"categorical", {{"per_class_accuracy", m.to_json()["per_class_accuracy"]}}}});
  } catch (const std::exception& e) {
    if (dist.is_root()) status.write(StatusLog::Status::kFailure, e.what());
    throw;
  }
}

void run_dataset_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                         const std::string& out_dir) {
  const specs::Spec spec = specs::load_spec(specs::classification_convert_schema(), convert_spec, overrides);
  const SourceConfig src = source_from_spec(spec, "source");
  const data::ImageShape shape = parse_image_size(spec.get_string("input_image_size"));
  const int shards = static_cast<int>(spec.get_int("num_shards"));
  if (out_dir.empty()) throw UsageError("dataset_convert needs an output directory: -o <dir>");
  ensure_writable_dir(out_dir);
  const auto ds = open_source(src, shape);
  log::info(log::cat("Converting ", ds->size(), " images (", ds->shape().str(), ", ", ds->num_classes(),
                     " classes) into ", shards, " shard(s) in ", out_dir));
  Progress progress("Writing shards", static_cast<int64_t>(ds->size()), "record");
  const size_t n = data::write_shards(*ds, out_dir, shards, [&](size_t done, size_t) {
    progress.update(static_cast<int64_t>(done));
  });
  progress.finish();
  log::info(log::cat("Wrote ", n, " records to ", out_dir));
}

}  // namespace kiln::runtime
