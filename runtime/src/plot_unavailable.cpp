// The plots of a build without PLplot (KILN_WITH_PLOTS=OFF; runtime/CMakeLists.txt compiles this file in place of
// plot.cpp): no PNG is written, and the first call for each kind of plot says so as a warning. Training and
// evaluation go on: the curves' numbers are in training_history.csv and status.json either way.
#include <filesystem>
#include <mutex>
#include <string>

#include "kiln/common/log.h"
#include "kiln/runtime/report.h"

namespace kiln::runtime {
namespace {

void warn_once(std::once_flag& once, const std::string& png_path) {
  std::call_once(once, [&] {
    log::warn("kiln was built without plotting (KILN_WITH_PLOTS=OFF); " +
              std::filesystem::path(png_path).filename().string() + " not written (here: " + png_path + ")");
  });
}

}  // namespace

void plot_training_curves(const std::vector<EpochRecord>&, const std::string& png_path, const std::string&,
                          const std::string&) {
  static std::once_flag once;
  warn_once(once, png_path);
}

void plot_pr_curves(const std::vector<PrCurve>&, const std::string& png_path, const std::string&) {
  static std::once_flag once;
  warn_once(once, png_path);
}

}  // namespace kiln::runtime
