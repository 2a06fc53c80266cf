#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/line_file.h"
#include "kiln/common/log.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/status_schema.h"

namespace kiln::runtime {

bool StatusLog::write(Status status, const std::string& message, nlohmann::json fields) const {
  const nlohmann::json event = status_event(status, message, fields, std::time(nullptr));  // status_schema.h
  // Appending one line per event keeps earlier events of this and previous runs in the same results dir.
  try {
    append_line(path_, event.dump());
    return true;
  } catch (const Error& e) {
    // A status that cannot be recorded must not end (or mask the cause of) a run, but it must not go unnoticed.
    log::warn("status " + event.value("status", std::string()) + " not recorded: " + e.what());
    return false;
  }
}

nlohmann::json StatusLog::last_event() const {
  std::ifstream in(path_, std::ios::binary);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!in.eof()) last = line;  // a last line without its '\n' is torn, not an event
  }
  if (!nlohmann::json::accept(last)) return nlohmann::json::object();
  nlohmann::json event = nlohmann::json::parse(last);
  return event.is_object() ? event : nlohmann::json::object();
}

std::string StatusLog::last_status() const {
  const nlohmann::json event = last_event();
  if (!event.contains("status") || !event.at("status").is_string()) return "";
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
