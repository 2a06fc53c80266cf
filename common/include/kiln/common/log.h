// Leveled logging as TAO writes it: `2026-12-05 13:49:22 INFO message` (local time, then the level), info and debug
// to stdout, warnings and errors to stderr, with an optional per-process prefix. A launcher's supervisor puts
// `[host:rank] ` in front of each rank's lines. --log_file also appends every line to a file (set_file).
#pragma once
#include <ctime>
#include <sstream>
#include <string>

namespace kiln::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void set_level(Level level);  // lines below it are dropped (default kInfo; -v: kDebug, -q: kWarn)
Level level();
void set_prefix(const std::string& prefix);
void write(Level level, const std::string& message);

inline void info(const std::string& m) { write(Level::kInfo, m); }
inline void warn(const std::string& m) { write(Level::kWarn, m); }
inline void error(const std::string& m) { write(Level::kError, m); }
inline void debug(const std::string& m) { write(Level::kDebug, m); }

// "DEBUG", "INFO", "WARNING", "ERROR" (Python logging's names, which TAO prints).
const char* level_name(Level level);

// One log line as write() prints it: "<date> <time> <LEVEL> <message>"; a multi-line message keeps its further
// lines as they are (tables stay aligned).
std::string format_line(Level level, const std::string& message, std::time_t when);

// --log_file PATH: from now on every line write() prints (and every line passed to also_to_file) is appended to
// PATH as well; "" closes it. Throws kiln::UsageError when PATH cannot be opened for appending.
void set_file(const std::string& path);
// Appends a line printed some other way (a rank's line forwarded by the launcher, `Execution status`) to the
// log file, when there is one.
void also_to_file(const std::string& line);

// Builds a message from stream-able pieces: log::info(log::cat("epoch ", e, " loss ", l)).
template <typename... Ts>
std::string cat(const Ts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

}  // namespace kiln::log
