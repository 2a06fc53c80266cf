#include "kiln/common/log.h"

#include <iostream>
#include <mutex>

namespace kiln::log {
namespace {
std::mutex g_mu;
Level g_level = Level::kInfo;
std::string g_prefix;
}  // namespace

void set_level(Level level) { g_level = level; }
void set_prefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_prefix = prefix;
}

void write(Level level, const std::string& message) {
  if (level < g_level) return;
  static const char* kTags[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
  std::lock_guard<std::mutex> lock(g_mu);
  std::ostream& os = level >= Level::kWarn ? std::cerr : std::cout;
  os << g_prefix << (level == Level::kInfo ? "" : std::string(kTags[static_cast<int>(level)]) + ": ") << message
     << std::endl;
}

}  // namespace kiln::log
