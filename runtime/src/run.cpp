// The run skeleton (run.h): the training loop every task shares, top to bottom.
#include "kiln/runtime/run.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/data/sampler.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/checkpoint_writer.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/run_start.h"
#include "kiln/runtime/status_schema.h"
#include "epoch_state.h"
#include "training_board.h"

namespace kiln::runtime {
namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point g_process_start = Clock::now();  // static initialisation: as good as process start

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// What the ranks agree on after every step (GradientReducer::set_step_flags, the OR over ranks): a stop was
// requested on some rank (a signal, or the launcher's STOP; the signal's number rides in bits 8-15), and rank 0's
// clock says a timed checkpoint is due.
constexpr int64_t kStopFlag = 1, kTimedCheckpointFlag = 2;
int signal_in(int64_t flags) { return static_cast<int>((flags >> 8) & 0xff); }

}  // namespace

LrSchedule scaled_schedule(LrSchedule schedule, const DataParallelConfig& dp, int world_size) {
  if (!dp.linear_lr_scaling) return schedule;
  schedule.learning_rate *= world_size;
  schedule.min_learning_rate *= world_size;
  return schedule;
}

CheckpointCadence::CheckpointCadence(const CheckpointPolicy& policy) : policy_(policy) {
  policy_.every_epochs = std::max<int64_t>(1, policy_.every_epochs);
}

bool CheckpointCadence::due(int64_t epochs_done, int64_t n_epochs) const {
  return epochs_done % policy_.every_epochs == 0 || epochs_done == n_epochs;
}

bool CheckpointCadence::step_due(int64_t global_step) const {
  return policy_.every_steps > 0 && global_step % policy_.every_steps == 0;
}

bool CheckpointCadence::time_due(double seconds_since_last) const {
  return policy_.every_minutes > 0 && seconds_since_last >= policy_.every_minutes * 60;
}

bool validation_due(int64_t epochs_done, int64_t n_epochs, int64_t period, int64_t first) {
  if (period <= 0 || epochs_done < first) return false;
  return epochs_done % period == 0 || epochs_done == n_epochs;
}

// One run's state while it trains: what was set up, then one method per part of an epoch.
struct Run::Loop {
  Run& run;
  TrainingTask& task;
  std::optional<StatusLog>& status;
  const RunSettings& s;
  Distributed& dist;
  const ReportFormat format;  // how the task's epochs are reported, asked once
  const CheckpointCadence cadence;
  int threads = 0;
  std::optional<data::DistributedSampler> sampler;
  int64_t steps_per_epoch = 0, total_steps = 0, global_batch = 0;
  LrSchedule schedule;
  RunStart start;
  TrainState state;
  std::unique_ptr<collectives::GradientReducer> reducer;
  MixedPrecision amp;  // train_config.amp / --use_amp
  std::optional<CheckpointContent> content;
  std::optional<CheckpointWriter> writer;  // rank 0
  std::optional<TrainingBoard> board;      // TensorBoard event files (rank 0, when the visualizer is on)
  Clock::time_point last_checkpoint = Clock::now();
  EpochTally resumed;                // a mid-epoch resume: this rank's tally when the checkpoint was taken
  int stop_signal = 0;               // the ranks agreed to stop (on this signal)
  bool checkpoint_at_epoch_end = false;  // a step or time cadence fell on the epoch's last step
  bool first_step_logged = false;
  double timed_seconds = 0;  // wall time of the epochs this process ran (steps, validation, reports)
  int64_t timed_epochs = 0;

  Loop(Run& r, TrainingTask& t, std::optional<StatusLog>& st)
      : run(r),
        task(t),
        status(st),
        s(r.settings_),
        dist(r.dist_),
        format(t.report_format()),
        cadence(r.settings_.checkpoints) {}

  void set_up_rank() {
    ensure_writable_dir(run.results_.dir());
    if (!dist.is_root()) log::set_level(log::Level::kWarn);  // rank 0 reports; the others speak up on problems
    threads = configure_threads(run.options_.threads, run.options_.rank);
    if (run.options_.deterministic) at::globalContext().setDeterministicAlgorithms(true, false);
    if (!dist.is_root()) return;
    status.emplace(run.results_.status());
    remove_stale_temp_files(run.results_);  // before this run writes any
    writer.emplace(run.results_, s.checkpoints.keep);
    board.emplace(s.visualizer, run.results_.dir());
  }

  // The data: this rank's share of every epoch comes from the distributed sampler.
  void set_up_data(networks::Architecture& arch) {
    task.open_data(arch);
    sampler.emplace(task.train_size(), dist.rank(), dist.world_size(), static_cast<uint64_t>(s.random_seed),
                    /*shuffle=*/true, /*drop_last=*/false);
    steps_per_epoch = static_cast<int64_t>(sampler->num_samples()) / s.batch_size;
    if (steps_per_epoch == 0)
      throw UsageError(log::cat(s.batch_size_key, "=", s.batch_size, " is larger than the ", sampler->num_samples(),
                                " training images per rank"));
    total_steps = steps_per_epoch * s.n_epochs;
    global_batch = s.batch_size * dist.world_size();
    schedule = scaled_schedule(s.schedule, s.data_parallel, dist.world_size());
  }

  // The model and optimizer: resumed from the latest checkpoint, or fresh (from pretrained weights when given). Every
  // rank loads the same file; rank 0's weights are then broadcast so all replicas start identical whatever happened.
  void set_up_model(const networks::Architecture& arch) {
    start = start_run(run.results_, s.pretrained_model_path, arch, s.freeze_blocks, s.optimizer,
                      schedule.at(0, total_steps), static_cast<uint64_t>(s.random_seed));
    amp = MixedPrecision::from_config(s.amp, dist.device());
    if (start.latest) resume();
    move_run_to(start, dist.device());  // restored on the CPU, then moved
    if (uses_channels_last(s.memory_format)) to_channels_last(start);
    reducer = make_reducer(dist, *start.net, start.params, s.data_parallel);
    if (state.position.steps > 0) restore_epoch_position();
    content = CheckpointContent{start.net.get(), start.optimizer.get(), &state, s.spec_yaml, task.class_names(),
                                dist.world_size(), global_batch};
    task.prepare(RunContext{dist, run.results_, dist.device(), *start.net, *start.optimizer, reducer.get(), &amp});
  }

  void resume() {
    state = resume_from(*start.latest, *start.source, *start.net, *start.optimizer);
    dist.set_step(state.global_step);  // a failure before the first step is named at this step, not at 0
    task.restore(start.source->meta);
    if (LossScaler* scaler = amp.scaler(); scaler && start.source->meta.contains("amp"))
      scaler->restore(start.source->meta.at("amp"));
    log::info(log::cat("Resuming from ", *start.latest, " (epoch ", state.epoch,
                       state.position.steps > 0 ? log::cat(" + ", state.position.steps, " step(s)") : "", ", step ",
                       state.global_step, ")"));
    const nlohmann::json& meta = start.source->meta;
    explain_batch_change(meta.value("world_size", 1), meta.value("global_batch", int64_t{0}));
  }

  // A resume with another global batch (ranks x batch) changes the steps of an epoch, and the LR schedule, which
  // follows the global step, lands elsewhere than it was: say so.
  void explain_batch_change(int saved_world, int64_t saved_global) const {
    if (!dist.is_root() || saved_global <= 0 || (saved_global == global_batch && saved_world == dist.world_size()))
      return;
    // What set_up_data computed on the saved world (drop_last off: each rank's share rounded up).
    const int64_t n = static_cast<int64_t>(task.train_size()), w = std::max(1, saved_world);
    const int64_t saved_steps = (n + w - 1) / w / std::max<int64_t>(1, saved_global / w);
    const auto percent = [](int64_t step, int64_t of) { return of > 0 ? 100.0 * static_cast<double>(step) / of : 0.0; };
    std::ostringstream os;
    os << std::fixed << std::setprecision(0) << "Resuming with another batch: the checkpoint was trained on "
       << saved_world << " rank(s) x batch " << saved_global / std::max(1, saved_world) << " = global batch "
       << saved_global << " (" << saved_steps << " steps/epoch); this run is " << dist.world_size()
       << " rank(s) x batch " << s.batch_size << " = global batch " << global_batch << " (" << steps_per_epoch
       << " steps/epoch). The LR schedule follows the global step: it continues at step " << state.global_step
       << " of " << total_steps << " (" << percent(state.global_step, total_steps) << "% of the schedule; "
       << percent(state.global_step, saved_steps * s.n_epochs) << "% when the checkpoint was saved)";
    if (s.data_parallel.linear_lr_scaling && saved_world != dist.world_size())
      os << ", and the learning rate is now scaled for " << dist.world_size() << " rank(s) instead of " << saved_world;
    log::warn(os.str() + ".");
  }

  // A mid-epoch checkpoint: each rank takes back its own tally and batch-norm buffers (after the broadcast of rank
  // 0's), so the epoch ends as it would have. On another world size the ranks' tallies are merged into rank 0's and
  // the buffers stay rank 0's: the epoch's remaining samples are still each seen once, but not bit for bit.
  void restore_epoch_position() {
    const auto& saved = state.position.rank_state;
    if (static_cast<int>(saved.size()) == dist.world_size()) {
      resumed = unpack_epoch_state(saved[static_cast<size_t>(dist.rank())], module_buffers(*start.net));
      return;
    }
    if (!dist.is_root()) return;
    log::warn(log::cat("The checkpoint was taken inside epoch ", state.epoch + 1, " by ", saved.size(),
                       " rank(s); on ", dist.world_size(), " the epoch goes on with the samples it has not seen, "
                       "but its metrics and batch-norm statistics are not those of an uninterrupted run"));
    resumed = merged_tally(saved);
  }

  // The flags this rank brings to the step's agreement.
  int64_t own_step_flags() const {
    int64_t flags = 0;
    if (const int signo = pending_signal()) flags |= kStopFlag | (static_cast<int64_t>(signo & 0xff) << 8);
    if (dist.is_root() && cadence.time_due(seconds_since(last_checkpoint))) flags |= kTimedCheckpointFlag;
    return flags;
  }

  // What a checkpoint holds beyond the weights, optimizer and position: the task's extra state, and the fp16 loss scale.
  nlohmann::json checkpoint_extra() const {
    nlohmann::json extra = task.checkpoint_extra();
    if (const LossScaler* scaler = amp.scaler()) extra["amp"] = scaler->state();
    return extra;
  }

  // Rank 0 hands the checkpoint to the background writer; returns its path. Training pauses for the copy, and for
  // the previous write when checkpoints come faster than the disk takes them.
  std::string save(const std::string& kind) {
    const auto t0 = Clock::now();
    writer->wait();
    const double waited = seconds_since(t0);
    content->extra = checkpoint_extra();
    CheckpointSnapshot snapshot(*content);
    const double copied = seconds_since(t0) - waited;
    const std::string path = writer->save(checkpoint_file_name(run.results_, *content), std::move(snapshot));
    last_checkpoint = Clock::now();
    const std::string waiting =
        waited >= 0.001 ? log::cat(", ", 1000 * waited, " of them waiting for the previous write") : "";
    log::info(log::cat("Checkpoint: ", path, " (", kind, "; training paused ", std::fixed, std::setprecision(1),
                       1000 * (copied + waited), " ms", waiting, ")"));
    return path;
  }

  // A checkpoint inside epoch `epoch` after `steps` of its steps: every rank's tally and buffers are gathered (one
  // all-gather, every rank takes part), rank 0 writes them with the weights.
  void save_mid_epoch(int64_t steps, int64_t consumed, EpochTally tally, const std::string& kind) {
    tally.task_sums = task.epoch_sums();
    const at::Tensor mine = pack_epoch_state(tally, module_buffers(*start.net));
    const at::Tensor all = dist.all_gather(mine);
    if (!dist.is_root()) return;
    state.position = EpochPosition{steps, consumed, {}};
    for (int r = 0; r < dist.world_size(); ++r)
      state.position.rank_state.push_back(all.narrow(0, r * mine.numel(), mine.numel()));
    save(kind);
    state.position = EpochPosition{};
  }

  // Every rank, once the ranks agreed to stop and the checkpoint is durable.
  [[noreturn]] void stop(const std::string& where) {
    if (writer) writer->wait();
    throw StoppedBySignal(stop_signal, " (" + signal_name(stop_signal) + ") " + where +
                                           "; a checkpoint was saved there: the same command resumes from it");
  }

  // A task that validates but whose first validation epoch lies beyond the last: nothing would report a validation
  // metric, so say so before training rather than leave the metric out silently.
  void warn_if_never_validated() {
    if (!task.has_validation() || s.validation_period <= 0 || s.first_validation_epoch <= s.n_epochs) return;
    const std::string message = log::cat(s.first_validation_epoch_key, "=", s.first_validation_epoch, " is beyond ",
                                         s.n_epochs_key, "=", s.n_epochs,
                                         ": no validation will run, so this run reports no validation metric");
    log::warn(message);
    if (status) status->write(StatusLog::Status::kRunning, message, {{"verbosity", "WARNING"}});
  }

  void announce() {
    networks::Network& net = *start.net;
    log::info(log::cat("Model: ", net.architecture().summary(), ", ", networks::count_parameters(net),
                       " parameters on ", dist.device().str(), task.describe_model()));
    log::info(log::cat("Data: ", task.describe_data(), "; ", dist.world_size(), " rank(s) x batch ", s.batch_size,
                       " = global batch ", global_batch, ", ", steps_per_epoch, " steps/epoch, ", threads,
                       " thread(s) per rank"));
    if (reducer)
      log::info(log::cat("Gradient reduction: ", reducer->num_buckets(), " bucket(s), ", dist.comm()->backend(),
                         ", compression ", s.data_parallel.gradient_compression,
                         s.data_parallel.linear_lr_scaling ? ", learning rate scaled linearly by ranks" : ""));
    log::info("Optimizer: " + s.optimizer.name + ", LR schedule " + schedule.describe());
    if (amp.enabled()) log::info("Mixed precision: " + amp.describe());
    log::info(uses_channels_last(s.memory_format) ? "Memory format: channels_last" : "Memory format: contiguous");
    if (status)
      status->write(StatusLog::Status::kStarted, state.epoch > 0 ? "Resuming training." : "Starting Training Loop.",
                    {{"epoch", state.epoch}, {"max_epoch", s.n_epochs}});
    if (state.epoch >= s.n_epochs) log::info(log::cat("Training already complete (", state.epoch, " epochs)"));
    warn_if_never_validated();
  }

  void log_first_step() {
    if (first_step_logged || !dist.is_root()) return;
    first_step_logged = true;
    log::info(log::cat("First training step done ", std::fixed, std::setprecision(2),
                       seconds_since(g_process_start), " s after this rank started"));
  }

  // The steps of one epoch (the rest of it, after a mid-epoch resume); returns its record with the metrics summed
  // over every rank.
  EpochRecord train_epoch(int64_t epoch) {
    sampler->set_epoch(epoch);
    const EpochPosition from = std::exchange(state.position, EpochPosition{});
    const std::vector<size_t> indices = sampler->indices(static_cast<size_t>(from.consumed));
    const int64_t epoch_steps = from.steps + static_cast<int64_t>(indices.size()) / s.batch_size;
    EpochTally tally = from.steps > 0 ? std::exchange(resumed, EpochTally{}) : EpochTally{};
    std::unique_ptr<EpochSteps> steps = task.epoch(epoch, indices);
    if (from.steps > 0) task.restore_epoch_sums(tally.task_sums);
    std::optional<Progress> progress;
    if (dist.is_root()) {
      progress.emplace(log::cat("Epoch ", epoch + 1, "/", s.n_epochs), epoch_steps);
      const int64_t epochs_after = s.n_epochs - epoch - 1;  // the run's ETA: at the pace of the epochs so far
      progress->set_after(epochs_after * steps_per_epoch,
                          timed_epochs ? static_cast<double>(epochs_after) * timed_seconds / timed_epochs : -1.0);
    }
    const auto t0 = Clock::now();
    double lr = 0;
    int64_t step_in_epoch = from.steps, consumed = from.consumed;
    while (steps->next()) {
      dist.check();
      dist.set_step(state.global_step);
      lr = schedule.at(state.global_step, total_steps);
      const int64_t flags = own_step_flags();
      if (reducer) reducer->set_step_flags(flags);
      const StepStats r = steps->run(lr);
      const int64_t agreed = reducer ? reducer->agreed_step_flags() : flags;
      ++state.global_step, ++step_in_epoch, consumed += global_batch;
      log_first_step();
      tally.loss_sum += r.loss * static_cast<double>(r.images);
      tally.correct += r.correct;
      tally.seen += r.images;
      if (progress)
        progress->update(step_in_epoch, log::cat("loss ", std::setprecision(4), tally.loss_sum / tally.seen, " lr ", lr));
      if (board) board->after_step(state.global_step, tally.loss_sum / static_cast<double>(tally.seen), lr);
      after_step(agreed, epoch, step_in_epoch == epoch_steps, step_in_epoch, consumed, tally);
    }
    const double seconds = seconds_since(t0);
    steps.reset();
    EpochRecord rec = sum_epoch(epoch, tally.loss_sum, tally.correct, tally.seen, seconds);
    rec.lr = lr;
    if (progress) progress->finish(epoch_summary(rec));
    return rec;
  }

  // What the agreed flags and the step cadence ask for after a step: a checkpoint here (inside the epoch; at its
  // last step the epoch's end writes it), and for a stop, the end of the run.
  void after_step(int64_t agreed, int64_t epoch, bool epoch_done, int64_t step_in_epoch, int64_t consumed,
                  const EpochTally& tally) {
    if (agreed & kStopFlag) stop_signal = pending_signal() ? pending_signal() : signal_in(agreed);
    const bool timed = agreed & kTimedCheckpointFlag, stepped = cadence.step_due(state.global_step);
    if (!stop_signal && !timed && !stepped) return;
    if (epoch_done) {
      checkpoint_at_epoch_end = true;
      return;
    }
    save_mid_epoch(step_in_epoch, consumed, tally,
                   stop_signal ? "stop requested" : timed ? "checkpoint_interval_minutes" : "checkpoint_interval_steps");
    if (stop_signal)
      stop(log::cat("after step ", state.global_step, " (epoch ", epoch + 1, ", step ", step_in_epoch, ")"));
  }

  // Epoch metrics over all ranks in one reduction (with the task's own sums); batch-norm statistics averaged so
  // every replica evaluates and saves the same.
  EpochRecord sum_epoch(int64_t epoch, double loss_sum, int64_t correct, int64_t seen, double seconds) {
    std::vector<double> sums = task.epoch_sums();
    const size_t own = sums.size();
    sums.push_back(loss_sum), sums.push_back(static_cast<double>(correct)), sums.push_back(static_cast<double>(seen));
    at::Tensor totals = at::tensor(sums, at::kDouble);
    dist.sum(totals);
    std::vector<double> all(totals.data_ptr<double>(), totals.data_ptr<double>() + totals.numel());
    task.end_epoch(std::vector<double>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(own)));
    dist.average(module_buffers(*start.net));
    const double images = all[own + 2];
    EpochRecord rec;
    rec.epoch = epoch + 1;
    rec.train_loss = all[own] / std::max(1.0, images);
    rec.train_accuracy = format.train_accuracy ? all[own + 1] / std::max(1.0, images) : -1;
    rec.seconds = seconds;
    rec.images_per_s = images / seconds;
    return rec;
  }

  std::string epoch_summary(const EpochRecord& rec) const {
    std::ostringstream os;
    os << "loss " << std::setprecision(4) << rec.train_loss;
    if (rec.train_accuracy >= 0) os << " acc " << rec.train_accuracy;
    os << " " << std::setprecision(0) << std::fixed << rec.images_per_s << " img/s";
    return os.str();
  }

  // Reports and checkpoints (rank 0 only).
  void report_epoch(const EpochRecord& rec, bool validated) {
    if (!dist.is_root()) return;
    nlohmann::json event = epoch_progress(state.epoch, s.n_epochs, rec.seconds);  // TAO's schema: status_schema.h
    event.update({{"kpi", task.kpi(rec)},
                  {"graphical", task.graphical(rec)},
                  {"categorical", task.categorical(rec)},
                  {"images_per_s", rec.images_per_s}});  // kiln's own, outside TAO's groups
    status->write(StatusLog::Status::kRunning, "Training loop in progress", event);
    atomic_write_string(run.results_.history(), history_csv(state.history, format));
    if (!format.training_csv.empty())
      atomic_write_string(run.results_.training_csv(),
                          training_csv(state.history, format.training_csv, task.has_validation()));
    plot_training_curves(state.history, run.results_.curves(), "kiln " + start.net->architecture().summary(),
                         format.metric);
    board->after_epoch(rec, format, task);
    if (validated) task.write_validation(run.results_);
    const bool due = cadence.due(state.epoch, s.n_epochs);
    if (due || checkpoint_at_epoch_end) save(due ? "checkpoint_interval" : stop_signal ? "stop requested" : "cadence");
  }

  // A signal during validation waits for the next step's agreement: a rank that threw here would leave the others
  // blocked in validation's collectives.
  void validate(EpochRecord& rec) {
    InterruptsDeferred deferred;
    task.validate(rec);
  }

  void train_epochs() {
    start.net->train();
    for (int64_t epoch = state.epoch; epoch < s.n_epochs; ++epoch) {
      const auto t0 = Clock::now();
      EpochRecord rec = train_epoch(epoch);
      const bool validated = task.has_validation() &&
                             validation_due(epoch + 1, s.n_epochs, s.validation_period, s.first_validation_epoch);
      if (validated) validate(rec);
      state.epoch = epoch + 1;
      state.history.push_back(rec);
      report_epoch(rec, validated);
      checkpoint_at_epoch_end = false;
      timed_seconds += seconds_since(t0), ++timed_epochs;
      if (stop_signal && state.epoch < s.n_epochs)
        stop(log::cat("after epoch ", state.epoch, " (step ", state.global_step, ")"));
    }
  }

  // The final model: weights, architecture, classes and spec (no optimizer state).
  void finish() {
    if (dist.is_root()) {
      writer->wait();
      content->extra = checkpoint_extra();
      save_final_model(run.results_, *content);
      status->write(StatusLog::Status::kSuccess, "Training finished successfully.",
                    {{"epoch", state.epoch}, {"max_epoch", s.n_epochs}, {"kpi", task.final_kpi(state.history)}});
      log::info("Model written to " + run.results_.model());
    }
    dist.barrier();  // no rank leaves (and finalises MPI) while rank 0 is still writing
  }
};

Run::Run(const RunOptions& options, RunSettings settings, Distributed& dist)
    : options_(options), settings_(std::move(settings)), dist_(dist), results_(options.results_dir) {
  if (!options_.model_path.empty()) settings_.pretrained_model_path = options_.model_path;
}

void Run::train(TrainingTask& task, std::optional<StatusLog>& status) {
  Loop loop(*this, task, status);
  loop.set_up_rank();
  networks::Architecture arch = settings_.arch;
  loop.set_up_data(arch);
  loop.set_up_model(arch);
  loop.announce();
  loop.train_epochs();
  loop.finish();
}

void run_training(const RunOptions& options, const std::function<LoadedTask()>& load) {
  std::optional<StatusLog> status;
  std::optional<Distributed> dist;
  try {
    LoadedTask loaded = load();
    dist.emplace(options.rank, select_device(options.device, options.rank));
    Run(options, std::move(loaded.settings), *dist).train(*loaded.task, status);
  } catch (const StoppedBySignal& e) {
    // Every rank stops alike at the agreed step: nobody is told to abort, and each leaves the world cleanly
    // (GOODBYE, a last barrier), so a launcher sees ranks that exited, not ranks that died.
    if (status) status->write(StatusLog::Status::kFailure, e.what());
    dist.reset();
    throw;
  } catch (const std::exception& e) {
    // A collective that failed because a peer died is explained by the control plane's ABORT, which names it.
    const std::optional<Error> aborted = dist ? dist->explained_by_abort(e) : std::nullopt;
    // Record why the run ended in status.json, as TAO does, then tell the other ranks (they stop within a heartbeat
    // instead of hanging in an all-reduce); the error itself still reaches main().
    const std::string why = aborted ? aborted->what() : e.what();
    if (status) status->write(StatusLog::Status::kFailure, why);
    if (dist) dist->abort_job(log::cat("rank ", options.rank.rank, " failed: ", why), exit_code_of(e));
    if (aborted) throw *aborted;
    throw;
  }
}

}  // namespace kiln::runtime
