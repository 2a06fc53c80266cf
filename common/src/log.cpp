#include "kiln/common/log.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>

#include "kiln/common/error.h"

namespace kiln::log {
namespace {
std::mutex g_mu;
std::atomic<Level> g_level{Level::kInfo};
std::string g_prefix;
std::unique_ptr<std::ofstream> g_file;  // --log_file

void append_to_file(const std::string& line) {  // g_mu held
  if (!g_file) return;
  *g_file << line << '\n';
  g_file->flush();
}
}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void set_prefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_prefix = prefix;
}

const char* level_name(Level level) {
  static const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  return kNames[static_cast<int>(level)];
}

std::string format_line(Level level, const std::string& message, std::time_t when) {
  std::tm local{};
  ::localtime_r(&when, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
  return std::string(stamp) + " " + level_name(level) + " " + message;
}

void write(Level level, const std::string& message) {
  if (level < g_level.load()) return;
  const std::string line = format_line(level, message, std::time(nullptr));
  std::lock_guard<std::mutex> lock(g_mu);
  std::ostream& os = level >= Level::kWarn ? std::cerr : std::cout;
  os << g_prefix << line << std::endl;
  append_to_file(g_prefix + line);
}

void set_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_file.reset();
  if (path.empty()) return;
  auto file = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*file) throw UsageError("--log_file " + path + ": cannot open it for appending: " + std::strerror(errno));
  g_file = std::move(file);
}

void also_to_file(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_mu);
  append_to_file(line);
}

}  // namespace kiln::log
