// A run recovers from what earlier runs left behind: a corrupt `latest` checkpoint (resume from the newest one that
// verifies), temp files of killed writers (removed at start), and a full disk while checkpointing (the write fails,
// `latest` and the previous checkpoint stay, no temp file stays).
#include <gtest/gtest.h>
#include <torch/optim/sgd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "kiln/common/error.h"
#include "kiln/cluster/rank_monitor.h"
#include "kiln/common/fs.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/results_layout.h"
#include "runtime/synthetic_run.h"
#include "runtime/tmpfs_mount.h"

namespace fs = std::filesystem;
using namespace kiln::runtime;
using namespace kiln::runtime::testing;

namespace {

// Flips one bit in the middle of `file` (its payload, which the CRC32 covers).
void flip_a_bit(const fs::path& file) {
  std::string bytes = kiln::read_file(file.string());
  bytes[bytes.size() / 2] ^= 0x10;
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

// The pid of a process that has exited (and been reaped), so no process has it for now.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RunRecovery, CorruptLatestCheckpointFallsBackToTheNewestThatVerifies) {
  RunDir d;
  train_in(d.path, synthetic_settings(3, 1, 0));
  const ResultsLayout r(d.path.string());
  const fs::path epoch3 = fs::path(r.checkpoints()) / "lenet5_epoch_003.kiln";
  flip_a_bit(epoch3);
  ::testing::internal::CaptureStderr();
  ::testing::internal::CaptureStdout();
  train_in(d.path, synthetic_settings(4, 1, 0));
  const std::string err = ::testing::internal::GetCapturedStderr();
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(err.find("WARNING Checkpoint skipped: " + epoch3.string()), std::string::npos) << err;
  EXPECT_NE(err.find("checksum"), std::string::npos) << err;
  EXPECT_NE(out.find("(epoch 2, step 8)"), std::string::npos) << out;  // resumed from epoch 2: 4 steps an epoch
  EXPECT_EQ(statuses(r.status()).back(), "SUCCESS");
  EXPECT_EQ(kiln::read_file(r.latest_pointer()), "lenet5_epoch_004.kiln\n");
  EXPECT_NO_THROW(read_model_file(epoch3.string()));  // epoch 3 was trained and written again
}

TEST(RunRecovery, NoCheckpointThatVerifiesIsADataErrorNamingEach) {
  RunDir d;
  train_in(d.path, synthetic_settings(2, 1, 0));
  const ResultsLayout r(d.path.string());
  flip_a_bit(fs::path(r.checkpoints()) / "lenet5_epoch_001.kiln");
  flip_a_bit(fs::path(r.checkpoints()) / "lenet5_epoch_002.kiln");
  try {
    train_in(d.path, synthetic_settings(3, 1, 0));
    FAIL() << "expected a DataError";
  } catch (const kiln::DataError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no checkpoint in " + r.checkpoints() + " can be resumed from"), std::string::npos) << what;
    EXPECT_NE(what.find("lenet5_epoch_001.kiln"), std::string::npos) << what;
    EXPECT_NE(what.find("lenet5_epoch_002.kiln"), std::string::npos) << what;
  }
}

TEST(RunRecovery, TempFilesOfDeadWritersAreRemovedAtStart) {
  RunDir d;
  train_in(d.path, synthetic_settings(1, 1, 0));
  const ResultsLayout r(d.path.string());
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(::getppid());
  const fs::path ck = r.checkpoints();
  std::ofstream(ck / ("lenet5_epoch_002.kiln.tmp." + dead + ".9e3779b97f4a7c15")) << "half a checkpoint";
  std::ofstream(ck / ("latest.tmp." + dead + ".1f")) << "lenet5_epoch_0";
  std::ofstream(d.path / ("training_history.csv.tmp." + dead + ".2a")) << "epoch,";
  std::ofstream(ck / ("latest.tmp." + alive + ".3b")) << "a writer at work";
  std::ofstream(ck / "notes.tmp.txt") << "not a temp file of kiln's";
  train_in(d.path, synthetic_settings(2, 1, 0));
  EXPECT_EQ(files_in(ck), (std::vector<std::string>{"latest", "latest.tmp." + alive + ".3b", "lenet5_epoch_001.kiln",
                                                     "lenet5_epoch_002.kiln", "notes.tmp.txt"}));
  EXPECT_FALSE(fs::exists(d.path / ("training_history.csv.tmp." + dead + ".2a")));
}

// Records the steps a rank reports to its monitor (what failure messages name).
class StepRecorder final : public kiln::cluster::RankMonitor {
 public:
  explicit StepRecorder(std::vector<int64_t>& steps) : steps_(steps) {}
  void set_step(int64_t step) override { steps_.push_back(step); }
  void on_abort(std::function<void(const std::string&)>) override {}
  bool aborted() const override { return false; }
  std::string abort_reason() const override { return ""; }
  void abort(const std::string&) override {}
  void close() override {}
  int rank() const override { return 0; }

 private:
  std::vector<int64_t>& steps_;
};

// A rank that fails after resuming, before its first step, is named at the resumed step, not at step 0.
TEST(RunRecovery, AFailureAfterResumingNamesTheResumedStep) {
  RunDir d;
  train_in(d.path, synthetic_settings(2, 1, 0));  // 2 epochs of 4 steps
  std::vector<int64_t> steps;
  Distributed dist(kiln::cluster::RankInfo{}, nullptr, std::make_unique<StepRecorder>(steps));
  RunOptions opts;
  opts.results_dir = d.path.string();
  opts.threads = 1;
  SyntheticTask task;
  task.fail_in_epoch = 2;  // the first epoch after the resume throws before its first step
  std::optional<StatusLog> status;
  EXPECT_THROW(kiln::runtime::Run(opts, synthetic_settings(4, 1, 0), dist).train(task, status), kiln::Error);
  EXPECT_EQ(steps, std::vector<int64_t>{8});
}

CheckpointContent lenet5_checkpoint(kiln::networks::Network& net, torch::optim::Optimizer& optimizer,
                                    const TrainState& state) {
  return CheckpointContent{&net, &optimizer, &state, "model_config: {arch: lenet5}\n", {"a", "b", "c", "d"}};
}

// 1 MiB holds the first checkpoint (LeNet5's weights, about 0.2 MB); a filler then takes the rest.
TEST(RunRecovery, CheckpointOnAFullDiskFailsAndLeavesLatestAndNoTempFile) {
  TmpfsMount disk("1m");
  if (!disk.ok()) GTEST_SKIP() << disk.why();
  const ResultsLayout r(disk.path() + "/results");
  kiln::networks::Architecture arch;
  arch.arch = "lenet5", arch.num_classes = 4;
  const auto net = kiln::networks::create(arch);
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  TrainState state;
  state.epoch = 1;
  save_checkpoint(r, lenet5_checkpoint(*net, optimizer, state));
  {
    std::ofstream filler(disk.path() + "/filler", std::ios::binary);
    const std::string block(4096, 'f');
    for (size_t written = 0; filler && written < (1u << 20); written += block.size()) filler << block;
  }
  state.epoch = 2;
  EXPECT_THROW(save_checkpoint(r, lenet5_checkpoint(*net, optimizer, state)), kiln::Error);
  EXPECT_EQ(kiln::read_file(r.latest_pointer()), "lenet5_epoch_001.kiln\n");
  EXPECT_NO_THROW(read_model_file(r.checkpoints() + "/lenet5_epoch_001.kiln"));
  EXPECT_EQ(files_in(r.checkpoints()), (std::vector<std::string>{"latest", "lenet5_epoch_001.kiln"}));
}

}  // namespace

// A signal mid-epoch: the run finishes the step it is in, writes a checkpoint of exactly that step and stops with
// 128 + the signal; the same command resumes there and ends with the weights and history of an uninterrupted run.
TEST(RunRecovery, AStopMidEpochResumesBitForBit) {
  RunDir whole("whole"), parts("parts");
  train_in(whole.path, synthetic_settings(3, 1, 0));
  // 4 steps per epoch: the signal arrives during step 6 (epoch 2); the ranks agree on it after step 7.
  try {
    train_in(parts.path, synthetic_settings(3, 1, 0), -1, /*signal_after=*/6);
    FAIL() << "the run was not stopped";
  } catch (const StoppedBySignal& e) {
    EXPECT_EQ(e.code(), kiln::ExitCode::kSigTerm);
    EXPECT_NE(std::string(e.what()).find("(SIGTERM) after step 7 (epoch 2, step 3)"), std::string::npos) << e.what();
  }
  kiln::raise_interrupt_for_test(0);
  const ResultsLayout p(parts.path.string()), w(whole.path.string());
  EXPECT_EQ(kiln::read_file(p.latest_pointer()), "lenet5_epoch_001_step_0000007.kiln\n");
  EXPECT_FALSE(fs::exists(p.model()));
  const auto saved = read_model_file(p.checkpoints() + "/lenet5_epoch_001_step_0000007.kiln");
  EXPECT_EQ(saved.meta.at("step_in_epoch"), 3);
  EXPECT_EQ(saved.meta.at("samples_consumed"), 48);

  train_in(parts.path, synthetic_settings(3, 1, 0));
  EXPECT_TRUE(at::equal(weights_of(w.model()), weights_of(p.model())));
  EXPECT_EQ(lines(w.history()).size(), lines(p.history()).size());
  // Losses summed across the interruption equal the uninterrupted epoch's (the rank's tally was checkpointed).
  EXPECT_EQ(lines(w.history())[2].substr(0, 20), lines(p.history())[2].substr(0, 20));
}

// A signal during validation (DetectNet_v2's evaluation polls for one between its batches) does not end the run in
// the middle of it, where one rank throwing would leave the others in validation's collectives: the ranks agree on it
// after the next step, which is checkpointed, and the same command resumes bit for bit.
TEST(RunRecovery, ASignalDuringValidationStopsAfterTheNextStep) {
  RunDir whole("whole"), parts("parts");
  train_in(whole.path, synthetic_settings(3, 1, 1));
  try {
    train_with(parts.path, synthetic_settings(3, 1, 1), [](SyntheticTask& t) { t.signal_in_validation = 1; });
    FAIL() << "the run was not stopped";
  } catch (const StoppedBySignal& e) {
    EXPECT_NE(std::string(e.what()).find("(SIGTERM) after step 5 (epoch 2, step 1)"), std::string::npos) << e.what();
  }
  kiln::raise_interrupt_for_test(0);
  const ResultsLayout p(parts.path.string()), w(whole.path.string());
  EXPECT_EQ(kiln::read_file(p.latest_pointer()), "lenet5_epoch_001_step_0000005.kiln\n");
  train_in(parts.path, synthetic_settings(3, 1, 1));
  EXPECT_TRUE(at::equal(weights_of(w.model()), weights_of(p.model())));
}

TEST(RunRecovery, AStopOnAnEpochsLastStepSavesTheEpochAndStops) {
  RunDir dir;
  try {
    train_in(dir.path, synthetic_settings(3, 2, 0), -1, /*signal_after=*/3);  // agreed after step 4, epoch 1's last
    FAIL() << "the run was not stopped";
  } catch (const StoppedBySignal& e) {
    EXPECT_NE(std::string(e.what()).find("after epoch 1 (step 4)"), std::string::npos) << e.what();
  }
  kiln::raise_interrupt_for_test(0);
  // checkpoint_interval 2 would skip epoch 1; the stop saves it.
  EXPECT_EQ(kiln::read_file(ResultsLayout(dir.path.string()).latest_pointer()), "lenet5_epoch_001.kiln\n");
}

TEST(RunRecovery, CheckpointsEveryNStepsKeepingTheNewestK) {
  RunDir dir;
  RunSettings s = synthetic_settings(3, 1, 0);
  s.checkpoints.every_steps = 3;
  s.checkpoints.keep = 2;
  train_in(dir.path, s);
  const ResultsLayout r(dir.path.string());
  // Steps 3, 6 and 9 fall inside epochs 1, 2 and 3; epochs end at 4, 8 and 12. The newest two stay.
  EXPECT_EQ(files_in(r.checkpoints()),
            (std::vector<std::string>{"latest", "lenet5_epoch_002_step_0000009.kiln", "lenet5_epoch_003.kiln"}));
}

TEST(RunRecovery, CheckpointFilesSortByEpochThenStep) {
  RunDir dir;
  const ResultsLayout r(dir.path.string());
  fs::create_directories(r.checkpoints());
  for (const char* name : {"a_epoch_001.kiln", "a_epoch_001_step_0000007.kiln", "a_epoch_000_step_0000003.kiln",
                           "a_epoch_002.kiln", "notes.txt"})
    std::ofstream(r.checkpoints() + "/" + name) << "x";
  EXPECT_EQ(checkpoint_files_newest_first(r.checkpoints()),
            (std::vector<std::string>{"a_epoch_002.kiln", "a_epoch_001_step_0000007.kiln", "a_epoch_001.kiln",
                                      "a_epoch_000_step_0000003.kiln"}));
  std::ofstream(r.latest_pointer()) << "a_epoch_000_step_0000003.kiln\n";
  EXPECT_EQ(remove_old_checkpoints(r, 1),
            (std::vector<std::string>{"a_epoch_001_step_0000007.kiln", "a_epoch_001.kiln"}));
  EXPECT_EQ(files_in(r.checkpoints()), (std::vector<std::string>{"a_epoch_000_step_0000003.kiln", "a_epoch_002.kiln",
                                                                  "latest", "notes.txt"}));
}
