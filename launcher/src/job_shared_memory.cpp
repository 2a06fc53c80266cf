// JobSharedMemory (job_shared_memory.h).
#include "job_shared_memory.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "kiln/common/log.h"

namespace fs = std::filesystem;

namespace kiln::launcher {
namespace {

constexpr const char* kPrefix = "kiln-job-";

void remove_dirs_of_dead_launchers(const fs::path& root) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string digits = name.substr(std::char_traits<char>::length(kPrefix));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
    std::error_code rm;
    fs::remove_all(e.path(), rm);
    if (!rm) log::info("Removed " + e.path().string() + ", left by a launcher that was killed");
  }
}

}  // namespace

JobSharedMemory::JobSharedMemory(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec) || ::access(root.c_str(), W_OK) != 0) return;
  remove_dirs_of_dead_launchers(root);
  const fs::path dir = fs::path(root) / (kPrefix + std::to_string(::getpid()));
  fs::create_directories(dir, ec);
  if (!ec) dir_ = dir.string();
}

JobSharedMemory::~JobSharedMemory() {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace kiln::launcher
