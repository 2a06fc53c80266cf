#include "kiln/runtime/results_layout.h"

#include <cstdio>
#include <filesystem>

#include "kiln/common/fs.h"
#include "kiln/common/log.h"

namespace kiln::runtime {

ResultsLayout::ResultsLayout(std::string dir) : dir_(dir.empty() ? "." : std::move(dir)) {}

ResultsLayout ResultsLayout::resolve(const std::string& given, const std::string& beside) {
  if (!given.empty()) return ResultsLayout(given);
  return ResultsLayout(std::filesystem::path(beside).parent_path().string());
}

std::string ResultsLayout::path(const char* name) const { return dir_ + "/" + name; }
std::string ResultsLayout::status() const { return path("status.json"); }
std::string ResultsLayout::logs() const { return path("logs"); }
std::string ResultsLayout::checkpoints() const { return path("checkpoints"); }
std::string ResultsLayout::latest_pointer() const { return path("checkpoints/latest"); }
std::string ResultsLayout::model() const { return path("model.kiln"); }
std::string ResultsLayout::history() const { return path("training_history.csv"); }
std::string ResultsLayout::training_csv() const { return path("training.csv"); }
std::string ResultsLayout::curves() const { return path("training_curves.png"); }
std::string ResultsLayout::evaluation() const { return path("evaluation"); }

std::string ResultsLayout::checkpoint_name(const std::string& arch, int64_t epoch) const {
  char name[96];
  std::snprintf(name, sizeof name, "%s_epoch_%03lld.kiln", arch.c_str(), static_cast<long long>(epoch));
  return name;
}

std::string ResultsLayout::checkpoint_name(const std::string& arch, int64_t epoch, int64_t step) const {
  char name[128];
  std::snprintf(name, sizeof name, "%s_epoch_%03lld_step_%07lld.kiln", arch.c_str(), static_cast<long long>(epoch),
                static_cast<long long>(step));
  return name;
}

void remove_stale_temp_files(const ResultsLayout& results) {
  for (const std::string& dir : {results.dir(), results.checkpoints()}) {
    for (const std::string& name : kiln::remove_stale_temp_files(dir)) {
      log::info("Removed " + dir + "/" + name + ", the temp file of a write whose process is gone");
    }
  }
}

}  // namespace kiln::runtime
