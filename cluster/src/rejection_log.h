// What the store logs about peers it turns away. A port scanner or a flood of strangers must not fill the job's log:
// the first few rejections of every window are logged one by one, the rest are counted and summarised in one line
// when the window ends (or the server stops). Not thread-safe: used on the store's io thread only.
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace kiln::cluster::detail {

class RejectionLog {
 public:
  static constexpr size_t kLoggedPerWindow = 5;
  static constexpr std::chrono::seconds kWindow{10};

  // Logs `line` as a WARNING, or counts it once this window has logged kLoggedPerWindow.
  void note(const std::string& line);
  // The summary of what was counted, if anything (also called by note() when a new window starts).
  void flush();

 private:
  std::chrono::steady_clock::time_point window_start_{};
  size_t logged_ = 0, suppressed_ = 0;
  std::string last_;
};

}  // namespace kiln::cluster::detail
