// Minimal leveled logging to stderr/stdout with a per-process prefix (later: "[host:rank]").
#pragma once
#include <sstream>
#include <string>

namespace kiln::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void set_level(Level level);
void set_prefix(const std::string& prefix);
void write(Level level, const std::string& message);

inline void info(const std::string& m) { write(Level::kInfo, m); }
inline void warn(const std::string& m) { write(Level::kWarn, m); }
inline void error(const std::string& m) { write(Level::kError, m); }
inline void debug(const std::string& m) { write(Level::kDebug, m); }

// Builds a message from stream-able pieces: log::info(log::cat("epoch ", e, " loss ", l)).
template <typename... Ts>
std::string cat(const Ts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

}  // namespace kiln::log
