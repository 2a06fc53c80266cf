// TAO's status.json vocabulary (status_schema.h): the fields of every event and the kpi/graphical keys of each task.
#include "kiln/runtime/status_schema.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace kiln::runtime {

namespace {

const char* status_name(StatusLog::Status s) {
  switch (s) {
    case StatusLog::Status::kStarted: return "STARTED";
    case StatusLog::Status::kRunning: return "RUNNING";
    case StatusLog::Status::kSuccess: return "SUCCESS";
    case StatusLog::Status::kFailure: return "FAILURE";
  }
  return "RUNNING";
}

bool validated(const EpochRecord& r) { return r.val_accuracy >= 0; }

// The newest epoch that was validated, or nullptr.
const EpochRecord* last_validated(const std::vector<EpochRecord>& history) {
  for (auto it = history.rbegin(); it != history.rend(); ++it)
    if (validated(*it)) return &*it;
  return nullptr;
}

double percent(double fraction) { return fraction * 100.0; }

}  // namespace

// Python's str(timedelta(seconds=…)), which TAO writes: "0:01:02.500000", "1 day, 2:03:04".
std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  const auto total_us = static_cast<int64_t>(seconds * 1e6 + 0.5);
  const int64_t days = total_us / 86400000000LL, h = (total_us / 3600000000LL) % 24, m = (total_us / 60000000LL) % 60,
                s = (total_us / 1000000LL) % 60, us = total_us % 1000000LL;
  std::ostringstream os;
  if (days) os << days << (days == 1 ? " day, " : " days, ");
  os << h << ":" << std::setw(2) << std::setfill('0') << m << ":" << std::setw(2) << s;
  if (us) os << "." << std::setw(6) << us;
  return os.str();
}

nlohmann::json status_event(StatusLog::Status status, const std::string& message, const nlohmann::json& fields,
                            std::time_t now) {
  std::tm tm{};
  localtime_r(&now, &tm);
  // TAO formats "{}/{}/{}".format(month, day, year) and "{}:{}:{}".format(hour, minute, second): no zero padding.
  const std::string date =
      std::to_string(tm.tm_mon + 1) + "/" + std::to_string(tm.tm_mday) + "/" + std::to_string(tm.tm_year + 1900);
  nlohmann::json event{
      {"date", date},
      {"time", std::to_string(tm.tm_hour) + ":" + std::to_string(tm.tm_min) + ":" + std::to_string(tm.tm_sec)},
      {"status", status_name(status)},
      {"verbosity", status == StatusLog::Status::kFailure ? "ERROR" : "INFO"},
      {"message", message}};
  for (const auto& [key, value] : fields.items()) {
    const bool empty_group = (key == "kpi" || key == "graphical" || key == "categorical") && value.empty();
    if (!empty_group) event[key] = value;
  }
  return event;
}

nlohmann::json epoch_progress(int64_t epoch, int64_t max_epoch, double seconds_per_epoch) {
  return {{"epoch", epoch},
          {"max_epoch", max_epoch},
          {"time_per_epoch", format_duration(seconds_per_epoch)},
          {"eta", format_duration(seconds_per_epoch * static_cast<double>(max_epoch - epoch))}};
}

nlohmann::json classification_graphical(const EpochRecord& r) {
  nlohmann::json g{{tao::kLoss, r.train_loss}, {tao::kTrainingAccuracy, r.train_accuracy},
                   {tao::kLearningRate, r.lr}};
  if (validated(r)) g[tao::kValidationLoss] = r.val_loss, g[tao::kValidationAccuracy] = r.val_accuracy;
  return g;
}

nlohmann::json classification_kpi(const EpochRecord& r) {
  nlohmann::json kpi{{tao::kTrainingAccuracy, r.train_accuracy}};
  if (validated(r)) kpi[tao::kValidationAccuracy] = r.val_accuracy;
  return kpi;
}

nlohmann::json classification_final_kpi(const std::vector<EpochRecord>& history) {
  const EpochRecord* r = last_validated(history);
  if (!r) return nlohmann::json::object();
  return {{tao::kValidationLoss, r->val_loss}, {tao::kValidationAccuracy, r->val_accuracy}};
}

nlohmann::json detection_graphical(const EpochRecord& r) {
  nlohmann::json g{{tao::kLoss, r.train_loss}, {tao::kLearningRate, r.lr}};
  if (validated(r)) g[tao::kMeanAveragePrecision] = percent(r.val_accuracy);
  return g;
}

nlohmann::json detection_map_kpi(double map) {
  if (std::isnan(map)) return nlohmann::json::object();
  return {{tao::kMeanAveragePrecision, percent(map)}};
}

nlohmann::json detection_kpi(const EpochRecord& r) {
  return validated(r) ? detection_map_kpi(r.val_accuracy) : nlohmann::json::object();
}

nlohmann::json detection_final_kpi(const std::vector<EpochRecord>& history) {
  const EpochRecord* r = last_validated(history);
  return r ? detection_kpi(*r) : nlohmann::json::object();
}

nlohmann::json detection_categorical(const std::vector<std::pair<std::string, double>>& class_ap) {
  nlohmann::json ap = nlohmann::json::object();
  for (const auto& [name, value] : class_ap)
    if (!std::isnan(value)) ap[name] = percent(value);
  if (ap.empty()) return nlohmann::json::object();
  return {{tao::kAveragePrecision, ap}};
}

}  // namespace kiln::runtime
