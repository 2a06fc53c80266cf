// `kiln classification train`: the training loop, top to bottom (shared/STYLE.md: the loop is the story).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>
#include <iomanip>
#include <sstream>

#include "kiln/collectives/reducer.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/evaluate.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/report.h"
#include "kiln/data/sampler.h"
#include "kiln/runtime/tasks.h"
#include "kiln/runtime/train_step.h"
#include "kiln/specs/classification.h"

namespace kiln::runtime {
namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point g_process_start = Clock::now();  // static initialisation: as good as process start

nlohmann::json epoch_kpi(const EpochRecord& r) {
  nlohmann::json kpi{{"train_loss", r.train_loss}, {"train_accuracy", r.train_accuracy}, {"images_per_s", r.images_per_s}};
  if (r.val_accuracy >= 0) kpi["validation_accuracy"] = r.val_accuracy, kpi["validation_loss"] = r.val_loss;
  return kpi;
}

void write_history_csv(const std::vector<EpochRecord>& history, const std::string& path) {
  std::ostringstream os;
  os << "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds,images_per_s\n";
  os << std::setprecision(8);
  for (const auto& r : history)
    os << r.epoch << "," << r.train_loss << "," << r.train_accuracy << "," << r.val_loss << "," << r.val_accuracy << ","
       << r.lr << "," << r.seconds << "," << r.images_per_s << "\n";
  atomic_write_string(path, os.str());
}

}  // namespace

int configure_threads(int requested, const cluster::RankInfo& rank) {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = requested > 0 ? requested : cluster::threads_per_rank(rank, hw);
  at::set_num_threads(threads);  // LibTorch's pool, and OpenMP's under Debian's OpenMP build
  // OpenBLAS keeps its own pool, sized from OPENBLAS_NUM_THREADS or all cores when it loads. kiln's local launcher
  // sets the variable, but srun, a bare mpirun or torchrun do not: resize it here so every launch path gets the
  // same per-rank share. Looked up at run time, as the BLAS behind LibTorch may not be OpenBLAS.
  using SetThreads = void (*)(int);
  if (auto set_blas = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas(threads);
  return threads;
}

namespace {
void train_impl(const RunOptions& opts, const specs::Spec& spec, ClassificationConfig cfg, Distributed& dist,
                std::optional<StatusLog>& status_out);
}  // namespace

void run_train(const RunOptions& opts) {
  std::optional<StatusLog> status;
  std::optional<Distributed> dist;
  try {
    // The spec is validated before any rank joins the world, so a bad spec is exit 2 on every rank alike.
    const specs::Spec spec = specs::load_spec(specs::classification_schema(), opts.spec_file, opts.overrides);
    ClassificationConfig cfg = ClassificationConfig::from_spec(spec);
    dist.emplace(opts.rank, select_device(opts.device, opts.rank));
    train_impl(opts, spec, std::move(cfg), *dist, status);
  } catch (const std::exception& e) {
    // Record why the run ended in status.json, as TAO does, then tell the other ranks (they stop within a
    // heartbeat instead of hanging in an all-reduce); the error itself still reaches main().
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    if (dist) dist->abort_job(log::cat("rank ", opts.rank.rank, " failed: ", e.what()));
    throw;
  }
}

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


void train_impl(const RunOptions& opts, const specs::Spec& spec, ClassificationConfig cfg, Distributed& dist,
                std::optional<StatusLog>& status_out) {
  // 1. Configuration (spec and cross-field rules were validated before any rank joined the world).
  if (!opts.model_path.empty()) cfg.pretrained_model_path = opts.model_path;
  ensure_writable_dir(opts.results_dir);
  if (!dist.is_root()) log::set_level(log::Level::kWarn);  // rank 0 reports; the others speak up on problems
  const int threads = configure_threads(opts.threads, opts.rank);
  if (opts.deterministic) at::globalContext().setDeterministicAlgorithms(true, false);
  if (dist.is_root()) status_out.emplace(opts.results_dir + "/status.json");

  // 2. Data: this rank's share of every epoch comes from the distributed sampler.
  const auto train_ds = open_source(cfg.train, cfg.input_shape());
  const auto val_ds = cfg.val ? open_source(*cfg.val, cfg.input_shape()) : nullptr;
  cfg.arch.num_classes = train_ds->num_classes();
  data::DistributedSampler sampler(train_ds->size(), dist.rank(), dist.world_size(),
                                   static_cast<uint64_t>(cfg.random_seed), /*shuffle=*/true, /*drop_last=*/false);
  const int64_t steps_per_epoch = static_cast<int64_t>(sampler.num_samples()) / cfg.batch_size;
  if (steps_per_epoch == 0)
    throw UsageError(log::cat("train_config.batch_size_per_gpu=", cfg.batch_size, " is larger than the ",
                              sampler.num_samples(), " training images per rank"));
  const int64_t total_steps = steps_per_epoch * cfg.n_epochs;
  const int64_t global_batch = cfg.batch_size * dist.world_size();
  if (cfg.data_parallel.linear_lr_scaling) cfg.schedule.learning_rate *= dist.world_size();

  // 3. Model, optimizer; resume from the latest checkpoint, or start from pretrained weights. Every rank loads the
  //    same file; rank 0's weights are then broadcast so all replicas start identical whatever happened.
  RunStart start = start_run(opts.results_dir, cfg.pretrained_model_path, cfg.arch, cfg.freeze_blocks, cfg.optimizer,
                             cfg.schedule.at(0, total_steps), static_cast<uint64_t>(cfg.random_seed));
  const auto& latest = start.latest;
  auto& source = start.source;
  auto net = start.net;
  const auto& params = start.params;
  auto& optimizer = start.optimizer;
  TrainState state;
  if (latest) {
    state = resume_from(*latest, *source, *net, *optimizer);
    log::info(log::cat("Resuming from ", *latest, " (epoch ", state.epoch, ", step ", state.global_step, ")"));
    const int saved_world = source->meta.value("world_size", 1);
    if (saved_world != dist.world_size())
      log::info(log::cat("The checkpoint was trained on ", saved_world, " rank(s), global batch ",
                         source->meta.value("global_batch", int64_t{0}), "; continuing on ", dist.world_size(),
                         " rank(s), global batch ", global_batch, " (", steps_per_epoch, " steps/epoch)"));
  }
  const c10::Device device = dist.device();
  move_run_to(start, device);  // restored on the CPU, then moved
  std::unique_ptr<collectives::GradientReducer> reducer = make_reducer(dist, *net, params, cfg.data_parallel);
  const std::string spec_yaml = spec.to_yaml();
  const CheckpointContent content{net.get(), optimizer.get(), &state, spec_yaml, train_ds->class_names(),
                                  dist.world_size(), global_batch};

  log::info(log::cat("Model: ", net->architecture().summary(), ", ", networks::count_parameters(*net), " parameters on ",
                     device.str()));
  log::info(log::cat("Data: ", train_ds->size(), " training images", val_ds ? ", " + std::to_string(val_ds->size()) + " validation" : "",
                     "; ", dist.world_size(), " rank(s) x batch ", cfg.batch_size, " = global batch ", global_batch, ", ",
                     steps_per_epoch, " steps/epoch, ", threads, " thread(s) per rank"));
  if (reducer)
    log::info(log::cat("Gradient reduction: ", reducer->num_buckets(), " bucket(s), ", dist.comm()->backend(),
                       ", compression ", cfg.data_parallel.gradient_compression,
                       cfg.data_parallel.linear_lr_scaling ? ", learning rate scaled linearly by ranks" : ""));
  log::info("Optimizer: " + cfg.optimizer.name + ", LR schedule " + cfg.schedule.describe());
  if (status_out)
    status_out->write(StatusLog::Status::kStarted, state.epoch > 0 ? "Resuming training." : "Starting Training Loop.",
                      {{"epoch", state.epoch}, {"max_epoch", cfg.n_epochs}});
  if (state.epoch >= cfg.n_epochs) log::info(log::cat("Training already complete (", state.epoch, " epochs)"));

  // 4. The loop.
  TrainStep step(*net, *optimizer, cfg.regularizer, cfg.label_smoothing, reducer.get());
  bool first_step_logged = false;
  net->train();
  for (int64_t epoch = state.epoch; epoch < cfg.n_epochs; ++epoch) {
    sampler.set_epoch(epoch);
    data::Loader loader(*train_ds, sampler.indices(), epoch_loader_options(cfg, epoch));
    std::optional<Progress> progress;
    if (dist.is_root()) progress.emplace(log::cat("Epoch ", epoch + 1, "/", cfg.n_epochs), steps_per_epoch);
    const auto t0 = Clock::now();
    double loss_sum = 0, lr = 0;
    int64_t correct = 0, seen = 0, step_in_epoch = 0;
    while (auto batch = loader.next()) {
      throw_if_interrupted();
      dist.check();
      dist.set_step(state.global_step);
      lr = cfg.schedule.at(state.global_step, total_steps);
      const StepResult r = step.run(batch->images.to(device, /*non_blocking=*/true),
                                    batch->labels.to(device, /*non_blocking=*/true), lr);
      ++state.global_step, ++step_in_epoch;
      if (!first_step_logged && dist.is_root()) {
        first_step_logged = true;
        log::info(log::cat("First training step done ", std::fixed, std::setprecision(2),
                           std::chrono::duration<double>(Clock::now() - g_process_start).count(),
                           " s after this rank started"));
      }
      loss_sum += r.loss * batch->labels.size(0);
      correct += r.correct;
      seen += batch->labels.size(0);
      if (progress) progress->update(step_in_epoch, log::cat("loss ", std::setprecision(4), loss_sum / seen, " lr ", lr));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

    // Epoch metrics over all ranks; batch-norm statistics averaged so every replica evaluates and saves the same.
    at::Tensor totals = at::tensor({loss_sum, static_cast<double>(correct), static_cast<double>(seen)}, at::kDouble);
    dist.sum(totals);
    dist.average(module_buffers(*net));
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.train_loss = totals[0].item<double>() / std::max(1.0, totals[2].item<double>());
    rec.train_accuracy = totals[1].item<double>() / std::max(1.0, totals[2].item<double>());
    rec.lr = lr;
    rec.seconds = seconds;
    rec.images_per_s = totals[2].item<double>() / seconds;
    if (progress)
      progress->finish(log::cat("loss ", std::setprecision(4), rec.train_loss, " acc ", rec.train_accuracy, " ",
                                std::setprecision(0), std::fixed, rec.images_per_s, " img/s"));
    const bool last = epoch + 1 == cfg.n_epochs;
    if (val_ds && cfg.validation_period > 0 && ((epoch + 1) % cfg.validation_period == 0 || last)) {
      auto counts = evaluate_counts(*net, *val_ds, cfg.eval_transform(), cfg.eval_batch_size,
                                    static_cast<int>(cfg.top_k), static_cast<int>(cfg.n_workers),
                                    shard_indices(val_ds->size(), dist.rank(), dist.world_size()));
      counts.all_reduce(dist, val_ds->num_classes());
      const Metrics m = Metrics::from_counts(counts, static_cast<int>(cfg.top_k), val_ds->class_names());
      rec.val_loss = m.loss, rec.val_accuracy = m.top1;
      log::info(log::cat("Validation: accuracy ", std::fixed, std::setprecision(4), m.top1, ", loss ", m.loss));
    }
    state.epoch = epoch + 1;
    state.history.push_back(rec);

    // 5. Reports and checkpoints (rank 0 only).
    if (dist.is_root()) {
      const double eta = seconds * static_cast<double>(cfg.n_epochs - state.epoch);
      status_out->write(StatusLog::Status::kRunning, "Training loop in progress",
                        {{"epoch", state.epoch}, {"max_epoch", cfg.n_epochs}, {"time_per_epoch", format_duration(seconds)},
                         {"eta", format_duration(eta)}, {"kpi", epoch_kpi(rec)},
                         {"graphical", {{"loss", rec.train_loss}, {"lr", rec.lr}, {"accuracy", rec.train_accuracy}}}});
      write_history_csv(state.history, opts.results_dir + "/training_history.csv");
      plot_training_curves(state.history, opts.results_dir + "/training_curves.png",
                           "kiln " + net->architecture().summary());
      if (state.epoch % cfg.checkpoint_interval == 0 || last)
        log::info("Checkpoint: " + save_checkpoint(opts.results_dir, content));
    }
  }

  // 6. The final model: weights, architecture, classes and spec (no optimizer state).
  if (dist.is_root()) {
    save_final_model(opts.results_dir, content);
    nlohmann::json kpi = state.history.empty() ? nlohmann::json::object() : epoch_kpi(state.history.back());
    status_out->write(StatusLog::Status::kSuccess, "Training finished successfully.",
                      {{"epoch", state.epoch}, {"max_epoch", cfg.n_epochs}, {"kpi", kpi}});
    log::info("Model written to " + opts.results_dir + "/model.kiln");
  }
  dist.barrier();  // no rank leaves (and finalises MPI) while rank 0 is still writing
}

}  // namespace

}  // namespace kiln::runtime
