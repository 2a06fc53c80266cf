#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/line_file.h"
#include "kiln/common/log.h"
#include "kiln/runtime/report.h"

namespace kiln::runtime {

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  const auto total_us = static_cast<int64_t>(seconds * 1e6 + 0.5);
  const int64_t h = total_us / 3600000000LL, m = (total_us / 60000000LL) % 60, s = (total_us / 1000000LL) % 60,
                us = total_us % 1000000LL;
  std::ostringstream os;
  os << h << ":" << std::setw(2) << std::setfill('0') << m << ":" << std::setw(2) << s;
  if (us) os << "." << std::setw(6) << us;
  return os.str();
}

bool StatusLog::write(Status status, const std::string& message, nlohmann::json fields) const {
  static const char* kNames[] = {"STARTED", "RUNNING", "SUCCESS", "FAILURE"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char date[16], clock[16];
  std::strftime(date, sizeof date, "%m/%d/%Y", &tm);
  std::strftime(clock, sizeof clock, "%H:%M:%S", &tm);
  nlohmann::json event{{"date", date},
                       {"time", clock},
                       {"status", kNames[static_cast<int>(status)]},
                       {"verbosity", status == Status::kFailure ? "ERROR" : "INFO"},
                       {"message", message}};
  for (auto& [k, v] : fields.items()) event[k] = v;
  // Appending one line per event keeps earlier events of this and previous runs in the same results dir.
  try {
    append_line(path_, event.dump());
    return true;
  } catch (const Error& e) {
    // A status that cannot be recorded must not end (or mask the cause of) a run, but it must not go unnoticed.
    log::warn(std::string("status ") + kNames[static_cast<int>(status)] + " not recorded: " + e.what());
    return false;
  }
}

std::string StatusLog::last_status() const {
  std::ifstream in(path_, std::ios::binary);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!in.eof()) last = line;  // a last line without its '\n' is torn, not an event
  }
  if (!nlohmann::json::accept(last)) return "";
  const nlohmann::json event = nlohmann::json::parse(last);
  if (!event.is_object() || !event.contains("status") || !event.at("status").is_string()) return "";
  return event.at("status").get<std::string>();
}

nlohmann::json EpochRecord::to_json() const {
  return {{"epoch", epoch},       {"train_loss", train_loss}, {"train_accuracy", train_accuracy},
          {"lr", lr},             {"seconds", seconds},       {"images_per_s", images_per_s},
          {"val_loss", val_loss}, {"val_accuracy", val_accuracy}};
}

EpochRecord EpochRecord::from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.train_loss = j.at("train_loss");
  r.train_accuracy = j.at("train_accuracy");
  r.lr = j.at("lr");
  r.seconds = j.at("seconds");
  r.images_per_s = j.at("images_per_s");
  r.val_loss = j.at("val_loss");
  r.val_accuracy = j.at("val_accuracy");
  return r;
}

}  // namespace kiln::runtime
