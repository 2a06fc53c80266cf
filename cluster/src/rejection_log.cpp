// RejectionLog (rejection_log.h).
#include "rejection_log.h"

#include "kiln/common/log.h"

namespace kiln::cluster::detail {

void RejectionLog::note(const std::string& line) {
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start_ >= kWindow) {
    flush();
    window_start_ = now;
    logged_ = 0;
  }
  if (logged_ < kLoggedPerWindow) {
    ++logged_;
    log::warn(line + (logged_ == kLoggedPerWindow ? " (further rejections are summarised)" : ""));
    return;
  }
  ++suppressed_;
  last_ = line;
}

void RejectionLog::flush() {
  if (suppressed_ == 0) return;
  log::warn(log::cat("store: ", suppressed_, " more connection(s) rejected in ", kWindow.count(),
                     " s; the last: ", last_));
  suppressed_ = 0;
  last_.clear();
}

}  // namespace kiln::cluster::detail
