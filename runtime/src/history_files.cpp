// The per-epoch history files of a run (run.h): kiln's training_history.csv and TAO's training.csv.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "kiln/runtime/run.h"

namespace kiln::runtime {

namespace {

// What Python's repr() prints for a float: the shortest string that reads back, "1.0" rather than "1", "1e-05".
template <typename Float>
std::string python_float(Float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  if (v == std::trunc(v) && std::fabs(v) < 1e16) {
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(v));
    return buf;
  }
  const auto end = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general).ptr;
  return std::string(buf, end);
}

}  // namespace

std::string history_csv(const std::vector<EpochRecord>& history, const ReportFormat& format) {
  std::ostringstream os;
  os << "epoch";
  for (const HistoryColumn& c : format.history) os << "," << c.name;
  os << "\n" << std::setprecision(8);
  for (const EpochRecord& r : history) {
    os << r.epoch;
    for (const HistoryColumn& c : format.history) {
      os << ",";
      if (r.*c.field >= 0) os << r.*c.field;
    }
    os << "\n";
  }
  return os.str();
}

std::string training_csv(const std::vector<EpochRecord>& history, const std::vector<HistoryColumn>& columns,
                         bool validated) {
  std::vector<const HistoryColumn*> kept;
  for (const HistoryColumn& c : columns)
    if (validated || !c.validation) kept.push_back(&c);
  std::string out = "epoch";
  for (const HistoryColumn* c : kept) out += std::string(",") + c->name;
  out += "\r\n";
  for (const EpochRecord& r : history) {
    out += std::to_string(r.epoch);
    for (const HistoryColumn* c : kept) {
      const double v = r.*c->field;
      out += ",";
      if (c->validation && v < 0)
        out += "NA";  // Keras' CSVLogger writes NA for a log an epoch lacks
      else if (c->field == &EpochRecord::lr)
        out += python_float(static_cast<float>(v));  // Keras reads the optimizer's float32 learning rate
      else
        out += python_float(v);
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace kiln::runtime
