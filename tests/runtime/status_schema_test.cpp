// status.json in TAO's schema (status_schema.h): the field names and formats TAO's StatusLogger, TAOStatusLogger
// (KEY_MAP) and DetectNet_v2's evaluation write, which TAO's dashboards and AutoML read.
#include "kiln/runtime/status_schema.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

using namespace kiln::runtime;

namespace {

std::set<std::string> keys(const nlohmann::json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

std::time_t local_time(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{};
  tm.tm_year = year - 1900, tm.tm_mon = month - 1, tm.tm_mday = day;
  tm.tm_hour = hour, tm.tm_min = minute, tm.tm_sec = second;
  tm.tm_isdst = -1;
  return std::mktime(&tm);
}

EpochRecord record(double val_accuracy) {
  EpochRecord r;
  r.epoch = 3, r.train_loss = 0.5, r.train_accuracy = 0.8, r.lr = 0.01, r.seconds = 2, r.images_per_s = 100;
  r.val_accuracy = val_accuracy, r.val_loss = val_accuracy >= 0 ? 0.6 : -1;
  return r;
}

}  // namespace

TEST(StatusSchema, EventSpellsDateAndTimeAsTaoDoesWithoutPadding) {
  const auto e = status_event(StatusLog::Status::kStarted, "Starting Training Loop.", nlohmann::json::object(),
                              local_time(2026, 1, 2, 3, 4, 5));
  EXPECT_EQ(e.at("date"), "1/2/2026");
  EXPECT_EQ(e.at("time"), "3:4:5");
  EXPECT_EQ(e.at("status"), "STARTED");
  EXPECT_EQ(e.at("verbosity"), "INFO");
  EXPECT_EQ(e.at("message"), "Starting Training Loop.");
  EXPECT_EQ(keys(e), (std::set<std::string>{"date", "time", "status", "verbosity", "message"}));
  const auto late = status_event(StatusLog::Status::kFailure, "boom", nlohmann::json::object(),
                                 local_time(2026, 12, 25, 23, 59, 58));
  EXPECT_EQ(late.at("date"), "12/25/2026");
  EXPECT_EQ(late.at("time"), "23:59:58");
  EXPECT_EQ(late.at("status"), "FAILURE");
  EXPECT_EQ(late.at("verbosity"), "ERROR");
}

TEST(StatusSchema, EmptyKpiGraphicalAndCategoricalAreLeftOutAsTaoLeavesThem) {
  const auto e = status_event(StatusLog::Status::kRunning, "m",
                              {{"kpi", nlohmann::json::object()}, {"graphical", {{"loss", 1.0}}},
                               {"categorical", nlohmann::json::object()}, {"verbosity", "WARNING"}},
                              local_time(2026, 6, 1, 12, 0, 0));
  EXPECT_FALSE(e.contains("kpi"));
  EXPECT_FALSE(e.contains("categorical"));
  EXPECT_EQ(e.at("graphical").at("loss"), 1.0);
  EXPECT_EQ(e.at("verbosity"), "WARNING");  // a caller may raise the verbosity, within TAO's names
}

TEST(StatusSchema, DurationsArePythonTimedeltaStrings) {
  EXPECT_EQ(format_duration(62.5), "0:01:02.500000");
  EXPECT_EQ(format_duration(3600), "1:00:00");
  EXPECT_EQ(format_duration(86400 + 3661), "1 day, 1:01:01");
  EXPECT_EQ(format_duration(2 * 86400 + 5), "2 days, 0:00:05");
  const auto p = epoch_progress(3, 10, 2.5);
  EXPECT_EQ(keys(p), (std::set<std::string>{"epoch", "max_epoch", "time_per_epoch", "eta"}));
  EXPECT_EQ(p.at("epoch"), 3);
  EXPECT_EQ(p.at("max_epoch"), 10);
  EXPECT_EQ(p.at("time_per_epoch"), "0:00:02.500000");
  EXPECT_EQ(p.at("eta"), "0:00:17.500000");  // 7 epochs left × 2.5 s
}

TEST(StatusSchema, ClassificationUsesTaoKeyMapNames) {
  EXPECT_EQ(keys(classification_graphical(record(0.7))),
            (std::set<std::string>{"loss", "training_accuracy", "validation_loss", "validation_accuracy",
                                   "learning_rate"}));
  EXPECT_EQ(keys(classification_graphical(record(-1))),
            (std::set<std::string>{"loss", "training_accuracy", "learning_rate"}));
  EXPECT_EQ(classification_graphical(record(0.7)).at("learning_rate"), 0.01);
  const auto kpi = classification_kpi(record(0.7));
  EXPECT_EQ(keys(kpi), (std::set<std::string>{"training_accuracy", "validation_accuracy"}));
  EXPECT_EQ(kpi.at("validation_accuracy"), 0.7);
  EXPECT_EQ(keys(classification_kpi(record(-1))), (std::set<std::string>{"training_accuracy"}));
  // Final: the last validated epoch's validation_loss and validation_accuracy (TAO's "Model evaluation is complete").
  const auto final_kpi = classification_final_kpi({record(0.7), record(-1)});
  EXPECT_EQ(keys(final_kpi), (std::set<std::string>{"validation_loss", "validation_accuracy"}));
  EXPECT_EQ(final_kpi.at("validation_accuracy"), 0.7);
  EXPECT_TRUE(classification_final_kpi({record(-1)}).empty());
}

TEST(StatusSchema, DetectNetReportsMeanAveragePrecisionInPercentAndApPerClass) {
  const auto kpi = detection_kpi(record(0.8477));
  EXPECT_EQ(keys(kpi), (std::set<std::string>{"mean average precision"}));
  EXPECT_NEAR(kpi.at("mean average precision").get<double>(), 84.77, 1e-9);
  EXPECT_TRUE(detection_kpi(record(-1)).empty());  // no validation that epoch: no kpi, never a fake -1
  EXPECT_TRUE(detection_final_kpi({record(-1), record(-1)}).empty());
  EXPECT_NEAR(detection_final_kpi({record(0.5), record(-1)}).at("mean average precision").get<double>(), 50, 1e-9);
  EXPECT_EQ(keys(detection_graphical(record(-1))), (std::set<std::string>{"loss", "learning_rate"}));
  EXPECT_EQ(keys(detection_graphical(record(0.5))),
            (std::set<std::string>{"loss", "learning_rate", "mean average precision"}));
  const auto cat = detection_categorical({{"bag", 0.5}, {"coat", std::nan("")}});
  EXPECT_EQ(keys(cat), (std::set<std::string>{"average_precision"}));
  EXPECT_EQ(keys(cat.at("average_precision")), (std::set<std::string>{"bag"}));  // no ground truth: no AP
  EXPECT_NEAR(cat.at("average_precision").at("bag").get<double>(), 50, 1e-9);
}
