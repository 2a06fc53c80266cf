// A stopped job resumes where it stopped, and a failed one is restarted (--max_restarts). Ctrl-C on the kiln launcher asks every rank (over the control plane) to stop
// after the same step; rank 0 saves a checkpoint of that step, every rank exits 130, and the same command carries on
// from there to exactly the weights of an uninterrupted run (deterministic mode, 2 ranks). Slurm's warning signal,
// SIGUSR1, does the same for a single process (exit 138).
#include <ATen/ATen.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e/e2e_util.h"
#include "kiln/runtime/model_file.h"

using namespace kiln::testing;

namespace {
const std::string kSpec = sample_spec("classification_lenet5_fmnist.yaml");
// 2,000 images: 15 steps per epoch on 2 ranks of batch 64; a checkpoint every epoch.
const std::string kRun = " --enable_determinism --num_threads 1 train_config.n_epochs=8 train_config.checkpoint_interval=1"
                         " dataset_config.train.max_samples=2000 dataset_config.val.max_samples=500";

// Starts `args`, sends `signo` once the first checkpoint exists, and returns the exit code.
int stopped(const std::string& args, const fs::path& results, const fs::path& log, int signo) {
  const pid_t pid = start_kiln(args, log);
  if (pid <= 0) return -1;
  wait_for_file(results / "checkpoints" / "latest");
  ::kill(pid, signo);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The reference: the same command, never interrupted.
void train_straight(const std::string& command, const fs::path& results) {
  const auto straight = run_kiln(command + " -r " + results.string());
  ASSERT_EQ(straight.code, 0) << straight.output;
}

void expect_same_weights(const fs::path& a_model, const fs::path& b_model) {
  const auto a = kiln::runtime::read_model_file(a_model.string());
  const auto b = kiln::runtime::read_model_file(b_model.string());
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) EXPECT_TRUE(at::equal(t, b.tensors.at(name))) << name;
  EXPECT_EQ(a.meta["history"].size(), b.meta["history"].size());
}

}  // namespace

TEST(Recovery, CtrlCStopsTwoRanksAtOneStepAndTheSameCommandResumesBitForBit) {
  TempDir dir("stop2");
  const std::string common = "classification train -e " + kSpec + " --num_processes 2" + kRun;
  ASSERT_NO_FATAL_FAILURE(train_straight(common, dir.path / "straight"));

  const fs::path results = dir.path / "stopped", log = dir.path / "stopped.log";
  ASSERT_EQ(stopped(common + " -r " + results.string(), results, log, SIGINT), 130)
      << "the run finished before it could be stopped:\n" << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("control plane: asking every rank to stop after an agreed step (SIGINT)"), std::string::npos)
      << out;
  // Both ranks stopped after the same step, and rank 0's checkpoint is of that step.
  const auto at = out.find("interrupted by signal 2 (SIGINT) after step ");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string where = out.substr(at, out.find(';', at) - at);
  size_t ranks_saying_so = 0;
  for (size_t p = out.find(where); p != std::string::npos; p = out.find(where, p + 1)) ++ranks_saying_so;
  EXPECT_EQ(ranks_saying_so, 2u) << out;
  EXPECT_EQ(out.find("exited (connection closed)"), std::string::npos) << "a stopped rank is not a dead rank:\n" << out;
  EXPECT_EQ(last_event(results).value("message", "").rfind(where, 0), 0u) << last_event(results).dump();
  EXPECT_FALSE(fs::exists(results / "model.kiln"));

  const auto resumed = run_kiln(common + " -r " + results.string());
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("Resuming from"), std::string::npos) << resumed.output;
  expect_same_weights(dir.path / "straight" / "model.kiln", results / "model.kiln");
}

TEST(Recovery, SlurmsWarningSignalStopsASingleProcessWithACheckpoint) {
  TempDir dir("usr1");
  const std::string common = "classification train -e " + kSpec + kRun;
  const fs::path results = dir.path / "r", log = dir.path / "r.log";
  ASSERT_EQ(stopped(common + " -r " + results.string(), results, log, SIGUSR1), 138)
      << "the run finished before it could be stopped:\n" << slurp(log);
  EXPECT_NE(slurp(log).find("interrupted by signal 10 (SIGUSR1) after "), std::string::npos) << slurp(log);
  const auto resumed = run_kiln(common + " -r " + results.string());
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  const auto straight = run_kiln(common + " -r " + (dir.path / "straight").string());
  ASSERT_EQ(straight.code, 0) << straight.output;
  expect_same_weights(dir.path / "straight" / "model.kiln", results / "model.kiln");
}

// --max_restarts: kill -9 of a rank is a restart from the latest checkpoint, not the end of the job; the steps after
// it are trained again exactly, so the job ends with the weights of a run that never failed.
TEST(Recovery, AKilledRankIsRestartedAndTheJobEndsWithTheUninterruptedWeights) {
  TempDir dir("restart");
  const std::string common = "classification train -e " + kSpec + " --num_processes 2" + kRun;
  ASSERT_NO_FATAL_FAILURE(train_straight(common, dir.path / "straight"));

  const fs::path results = dir.path / "restarted", log = dir.path / "restarted.log";
  const pid_t pid = start_kiln(common + " --max_restarts 2 -r " + results.string(), log);
  ASSERT_GT(pid, 0);
  wait_for_file(results / "checkpoints" / "latest");
  ASSERT_GT(find_rank(1, results.string()), 0) << slurp(log);
  const int status = kill_rank_and_wait(pid, 1, results.string());
  const std::string out = slurp(log);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  ASSERT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("WARNING restart 1 of 2 after: rank 1 (host "), std::string::npos) << out;
  EXPECT_NE(out.find("Resuming from"), std::string::npos) << out;
  // The restart is in status.json, with the checkpoint it resumed from and the steps it cost.
  bool recorded = false;
  std::istringstream events(slurp(results / "status.json"));
  for (std::string line; std::getline(events, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e.value("restart", 0) != 1) continue;
    recorded = true;
    EXPECT_EQ(e.value("status", ""), "RUNNING");
    EXPECT_GE(e.value("resume_step", int64_t{-1}), 15) << line;  // at least epoch 1's checkpoint
    EXPECT_GE(e.value("steps_lost", int64_t{-1}), 0) << line;
  }
  EXPECT_TRUE(recorded) << slurp(results / "status.json");
  EXPECT_EQ(last_event(results).value("status", ""), "SUCCESS");
  expect_same_weights(dir.path / "straight" / "model.kiln", results / "model.kiln");
}

// A rank that dies every time: the job stops after --max_restarts restarts, with one error naming the cause.
TEST(Recovery, ACrashLoopStopsAfterMaxRestartsNamingTheCause) {
  TempDir dir("crashloop");
  const fs::path results = dir.path / "r", log = dir.path / "r.log";
  const pid_t pid = start_kiln("classification train -e " + kSpec + " --num_processes 2 --max_restarts 2" + kRun +
                                   " -r " + results.string(),
                               log);
  ASSERT_GT(pid, 0);
  // Each launch: once it trains (its first step is logged), kill rank 1.
  int status = 0, kills = 0;
  std::vector<pid_t> killed;
  const auto launches_training = [&] {
    const std::string out = slurp(log);
    int n = 0;
    for (size_t p = out.find("First training step done"); p != std::string::npos;
         p = out.find("First training step done", p + 1))
      ++n;
    return n;
  };
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    const pid_t victim = find_rank(1, results.string());
    if (victim > 0 && launches_training() > kills &&
        std::find(killed.begin(), killed.end(), victim) == killed.end()) {
      ::kill(victim, SIGKILL);
      killed.push_back(victim);
      ++kills;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string out = slurp(log);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 4) << out;
  EXPECT_EQ(kills, 3) << out;
  EXPECT_NE(out.find("restart 2 of 2 after: "), std::string::npos) << out;
  EXPECT_NE(out.find("ERROR the job failed 3 times (--max_restarts 2); the last time: rank 1 (host "), std::string::npos)
      << out;
  EXPECT_EQ(last_event(results).value("status", ""), "FAILURE");
}

// SIGKILL at random moments of a run whose ResNet-18 checkpoints (85 MB, about 2 s each) are written back to back in
// the background: wherever the kill lands, mid-write included, checkpoints/latest names a complete file that
// verifies (CRC and end marker), and the partial file is only a temp file, which the next start removes.
TEST(Recovery, AKillDuringACheckpointWriteNeverLeavesLatestPointingAtAPartialFile) {
  TempDir dir("killwrite");
  const fs::path results = dir.path / "r", ckpts = results / "checkpoints";
  const std::string command = "classification train -e " + std::string(KILN_SOURCE_DIR) +
                              "/bench/specs/bench_classification.yaml -r " + results.string() +
                              " --num_threads 1 model_config.arch=resnet model_config.n_layers=18"
                              " dataset_config.train.max_samples=6400 train_config.checkpoint_interval_steps=1";
  std::mt19937 rng(11);
  int mid_write = 0;
  for (int kill = 0; kill < 5; ++kill) {
    const pid_t pid = start_kiln(command, dir.path / ("run" + std::to_string(kill) + ".log"));
    ASSERT_GT(pid, 0);
    wait_for_file(ckpts / "latest");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(200, 2500)(rng)));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    const std::string latest = slurp(ckpts / "latest");
    ASSERT_FALSE(latest.empty());
    const fs::path file = ckpts / latest.substr(0, latest.find('\n'));
    EXPECT_NO_THROW(kiln::runtime::read_model_file(file.string())) << "kill " << kill << ": " << file;
    // The log names each checkpoint when its snapshot is taken; one that latest does not point to yet was still
    // being encoded or written when the kill came.
    const std::string log = slurp(dir.path / ("run" + std::to_string(kill) + ".log"));
    const size_t at = log.rfind("Checkpoint: ");
    if (at != std::string::npos && fs::path(log.substr(at + 12, log.find(" (", at) - at - 12)) != file) ++mid_write;
  }
  std::cout << mid_write << " of 5 kills landed while a checkpoint was being written; latest always verified\n";
  EXPECT_GT(mid_write, 0) << "no kill landed during a write: the test proved nothing";
}
