// The run skeleton (run.h) on its own: results layout, checkpoint and validation cadence, LR scaling, the history
// file, and whole runs of a small task (LeNet5 on synthetic images, one rank) — the files a run leaves, and a resumed
// run that ends with exactly the weights of an uninterrupted one.
#include "kiln/runtime/run.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/results_layout.h"
#include "kiln/runtime/train_step.h"
#include "runtime/synthetic_run.h"

namespace fs = std::filesystem;
using namespace kiln::runtime;
using namespace kiln::runtime::testing;

TEST(ResultsLayout, SpellsEveryFileOfTheResultsFolder) {
  const ResultsLayout r("out/run1");
  EXPECT_EQ(r.status(), "out/run1/status.json");
  EXPECT_EQ(r.logs(), "out/run1/logs");
  EXPECT_EQ(r.checkpoints(), "out/run1/checkpoints");
  EXPECT_EQ(r.latest_pointer(), "out/run1/checkpoints/latest");
  EXPECT_EQ(r.checkpoint_name("resnet", 7), "resnet_epoch_007.kiln");
  EXPECT_EQ(r.model(), "out/run1/model.kiln");
  EXPECT_EQ(r.history(), "out/run1/training_history.csv");
  EXPECT_EQ(r.training_csv(), "out/run1/training.csv");
  EXPECT_EQ(r.curves(), "out/run1/training_curves.png");
  EXPECT_EQ(r.evaluation(), "out/run1/evaluation");
}

TEST(ResultsLayout, DefaultsToTheFileFolderThenTheWorkingDirectory) {
  EXPECT_EQ(ResultsLayout::resolve("given", "models/model.kiln").dir(), "given");
  EXPECT_EQ(ResultsLayout::resolve("", "models/model.kiln").dir(), "models");
  // A bare file name: the working directory, never the filesystem root ("" + "/evaluation").
  EXPECT_EQ(ResultsLayout::resolve("", "model.kiln").evaluation(), "./evaluation");
}

TEST(RunCadence, CheckpointsEveryIntervalAndAfterTheLastEpoch) {
  const CheckpointCadence every2(CheckpointPolicy{2});
  std::vector<int64_t> due;
  for (int64_t e = 1; e <= 5; ++e)
    if (every2.due(e, 5)) due.push_back(e);
  EXPECT_EQ(due, (std::vector<int64_t>{2, 4, 5}));
  EXPECT_TRUE(CheckpointCadence(CheckpointPolicy{0}).due(3, 5));  // an interval below 1 checkpoints every epoch
}

TEST(RunCadence, StepAndTimeCadencesAreOffAtZero) {
  CheckpointPolicy p;
  EXPECT_FALSE(CheckpointCadence(p).step_due(100));
  EXPECT_FALSE(CheckpointCadence(p).time_due(1e9));
  p.every_steps = 25, p.every_minutes = 0.5;
  const CheckpointCadence c(p);
  EXPECT_TRUE(c.step_due(50));
  EXPECT_FALSE(c.step_due(51));
  EXPECT_FALSE(c.time_due(29.9));
  EXPECT_TRUE(c.time_due(30.0));
}

TEST(RunCadence, ValidatesEveryPeriodFromTheFirstEpochAndAfterTheLast) {
  std::vector<int64_t> due;
  for (int64_t e = 1; e <= 10; ++e)
    if (validation_due(e, 10, 3, 4)) due.push_back(e);
  EXPECT_EQ(due, (std::vector<int64_t>{6, 9, 10}));
  EXPECT_FALSE(validation_due(10, 10, 0, 1));  // period 0: never
}

TEST(RunSchedule, LinearScalingScalesEveryLearningRateOfTheSchedule) {
  LrSchedule s;
  s.learning_rate = 0.01, s.min_learning_rate = 1e-5;
  DataParallelConfig dp;
  dp.linear_lr_scaling = true;
  const LrSchedule scaled = scaled_schedule(s, dp, 4);
  EXPECT_DOUBLE_EQ(scaled.learning_rate, 0.04);
  EXPECT_DOUBLE_EQ(scaled.min_learning_rate, 4e-5);
  dp.linear_lr_scaling = false;
  EXPECT_DOUBLE_EQ(scaled_schedule(s, dp, 4).min_learning_rate, 1e-5);
}

TEST(RunHistory, WritesTheTaskColumnsOneRowPerEpoch) {
  EpochRecord a;
  a.epoch = 1, a.train_loss = 0.5, a.val_accuracy = 0.25;
  const ReportFormat f{{{"train_loss", &EpochRecord::train_loss}, {"mAP", &EpochRecord::val_accuracy}}, "mAP", false};
  EXPECT_EQ(history_csv({a}, f), "epoch,train_loss,mAP\n1,0.5,0.25\n");
  EpochRecord b;
  b.epoch = 2, b.train_loss = 0.25;  // not validated: val_accuracy stays -1, written as an empty cell, not "-1"
  EXPECT_EQ(history_csv({a, b}, f), "epoch,train_loss,mAP\n1,0.5,0.25\n2,0.25,\n");
}

TEST(RunHistory, TrainingCsvIsKerasCsvLoggerLayout) {
  // TAO classification's training.csv: Keras' sorted log names, epochs from 1, Python's float repr, NA, CRLF.
  const std::vector<HistoryColumn> cols{{"acc", &EpochRecord::train_accuracy},
                                        {"loss", &EpochRecord::train_loss},
                                        {"lr", &EpochRecord::lr},
                                        {"val_acc", &EpochRecord::val_accuracy, true},
                                        {"val_loss", &EpochRecord::val_loss, true}};
  EpochRecord a, b;
  a.epoch = 1, a.train_accuracy = 0.75, a.train_loss = 0.5, a.lr = 0.1;  // lr as Keras' float32: "0.1"
  b.epoch = 2, b.train_accuracy = 1.0, b.train_loss = 1e-05, b.lr = 0.0001, b.val_accuracy = 0.5, b.val_loss = 2;
  EXPECT_EQ(training_csv({a, b}, cols, true),
            "epoch,acc,loss,lr,val_acc,val_loss\r\n"
            "1,0.75,0.5,0.1,NA,NA\r\n"
            "2,1.0,1e-05,0.0001,0.5,2.0\r\n");
  // Without validation data Keras has no val_* logs, so no such columns.
  EXPECT_EQ(training_csv({a}, cols, false), "epoch,acc,loss,lr\r\n1,0.75,0.5,0.1\r\n");
}

TEST(Run, LeavesTheResultsFolderAndEventsOfATrainingRun) {
  RunDir d;
  const auto task = train_in(d.path, synthetic_settings(3, 2, 2));
  const ResultsLayout r(d.path.string());
  EXPECT_EQ(statuses(r.status()), (std::vector<std::string>{"STARTED", "RUNNING", "RUNNING", "RUNNING", "SUCCESS"}));
  EXPECT_EQ(task->validations, 2);  // epoch 2 (the period) and epoch 3 (the last)
  EXPECT_FALSE(fs::exists(fs::path(r.checkpoints()) / "lenet5_epoch_001.kiln"));
  EXPECT_TRUE(fs::exists(fs::path(r.checkpoints()) / "lenet5_epoch_002.kiln"));
  EXPECT_TRUE(fs::exists(fs::path(r.checkpoints()) / "lenet5_epoch_003.kiln"));
  EXPECT_EQ(kiln::read_file(r.latest_pointer()), "lenet5_epoch_003.kiln\n");
  EXPECT_TRUE(fs::exists(r.model()));
  EXPECT_TRUE(fs::exists(r.curves()));
  const auto history = lines(r.history());
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0], "epoch,train_loss,val_accuracy");
  EXPECT_EQ(history[1].substr(0, 2), "1,");
  EXPECT_EQ(history[1].substr(history[1].rfind(',')), ",");  // not validated in epoch 1: an empty cell
  const auto keras = lines(r.training_csv());
  ASSERT_EQ(keras.size(), 4u);
  EXPECT_EQ(keras[0], "epoch,acc,val_acc\r");
  EXPECT_EQ(keras[1].substr(keras[1].rfind(',')), ",NA\r");
  EXPECT_EQ(keras[2].substr(0, 2), "2,");
  EXPECT_EQ(keras[2].substr(keras[2].rfind(',')), ",0.5\r");
  const auto last = nlohmann::json::parse(lines(r.status()).back());
  EXPECT_EQ(last.at("kpi").at("epochs"), 3);
  EXPECT_EQ(last.at("epoch"), 3);
}

TEST(Run, ResumedRunEndsWithTheWeightsOfAnUninterruptedOne) {
  RunDir whole("whole"), parts("parts");
  train_in(whole.path, synthetic_settings(4, 1, 0));
  EXPECT_THROW(train_in(parts.path, synthetic_settings(4, 1, 0), /*fail_in_epoch=*/2), kiln::Error);
  train_in(parts.path, synthetic_settings(4, 1, 0));  // the same command again: resumes after epoch 2
  const ResultsLayout w(whole.path.string()), p(parts.path.string());
  // The failed run: STARTED, RUNNING ×2 (no SUCCESS); the resumed one: STARTED, RUNNING ×2, SUCCESS.
  EXPECT_EQ(statuses(p.status()), (std::vector<std::string>{"STARTED", "RUNNING", "RUNNING", "STARTED", "RUNNING",
                                                            "RUNNING", "SUCCESS"}));
  EXPECT_NE(lines(p.status())[3].find("Resuming training."), std::string::npos);
  EXPECT_TRUE(at::equal(weights_of(w.model()), weights_of(p.model())));
  EXPECT_EQ(lines(w.history()), lines(p.history()));
}

TEST(Run, WarnsAtStartWhenNoValidationWillRun) {
  RunDir d;
  RunSettings s = synthetic_settings(2, 1, 1);
  s.first_validation_epoch = 5;
  s.first_validation_epoch_key = "evaluation_config.first_validation_epoch";
  const auto task = train_in(d.path, s);
  EXPECT_EQ(task->validations, 0);
  const ResultsLayout r(d.path.string());
  const auto events = lines(r.status());
  ASSERT_GE(events.size(), 2u);
  const auto warning = nlohmann::json::parse(events[1]);  // right after STARTED, before the first epoch
  EXPECT_EQ(warning.at("verbosity"), "WARNING");
  EXPECT_NE(warning.at("message").get<std::string>().find("evaluation_config.first_validation_epoch=5"),
            std::string::npos);
  EXPECT_NE(warning.at("message").get<std::string>().find("no validation will run"), std::string::npos);
  // No fake value anywhere: empty history cells, no validation metric in any kpi.
  for (const auto& line : lines(r.history())) EXPECT_EQ(line.find("-1"), std::string::npos) << line;
  for (const auto& line : events) EXPECT_EQ(line.find("-1"), std::string::npos) << line;
}

TEST(Run, ResumingWithAnotherBatchSaysWhatChanged) {
  RunDir d;
  train_in(d.path, synthetic_settings(1, 1, 0));  // batch 16: 4 steps/epoch
  RunSettings s = synthetic_settings(2, 1, 0);
  s.batch_size = 8;  // 8 steps/epoch from here on
  ::testing::internal::CaptureStderr();
  train_in(d.path, s);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("1 rank(s) x batch 16 = global batch 16 (4 steps/epoch)"), std::string::npos) << err;
  EXPECT_NE(err.find("1 rank(s) x batch 8 = global batch 8 (8 steps/epoch)"), std::string::npos) << err;
  EXPECT_NE(err.find("continues at step 4 of 16 (25% of the schedule; 50% when the checkpoint was saved)"),
            std::string::npos)
      << err;
}

TEST(Run, BatchLargerThanTheDataIsAUsageErrorNamingTheKey) {
  RunDir d;
  RunSettings s = synthetic_settings(1, 1, 1);
  s.batch_size = 65;
  try {
    train_in(d.path, s);
    FAIL() << "expected a UsageError";
  } catch (const kiln::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("train_config.batch_size_per_gpu=65"), std::string::npos) << e.what();
  }
}
