#include <unistd.h>

#include <cstdio>
#include <sstream>

#include "kiln/common/env_knobs.h"
#include "kiln/common/env.h"
#include "kiln/runtime/report.h"

namespace kiln::runtime {

namespace {
constexpr int kBarWidth = 24;
constexpr double kPlainIntervalS = 30.0;

std::string clock_string(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}
}  // namespace

namespace {
// KILN_PROGRESS=bar|plain|auto (default). Ranks under mpirun write to a pseudo-terminal whose lines mpirun tags and
// interleaves, so auto means plain lines there.
bool use_bar() {
  const std::string mode = env_string(knob::kProgress);
  if (mode == "bar") return true;
  if (mode == "plain") return false;
  return ::isatty(STDOUT_FILENO) == 1 && env_string("OMPI_COMM_WORLD_SIZE").empty() && env_string("PMIX_RANK").empty();
}
}  // namespace

Progress::Progress(std::string title, int64_t total, std::string unit)
    : title_(std::move(title)), unit_(std::move(unit)), total_(total), tty_(use_bar()),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

void Progress::update(int64_t done, const std::string& stats) { emit(done, stats, false); }
void Progress::finish(const std::string& stats) { emit(total_, stats, true); }

void Progress::emit(int64_t done, const std::string& stats, bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (!final) {
    if (tty_ && since_print < 0.1) return;  // ~10 redraws a second at most
    if (!tty_) {
      const int64_t tenth = std::max<int64_t>(1, total_ / 10);
      const bool crossed = last_done_printed_ < 0 ? done >= tenth : done / tenth > last_done_printed_ / tenth;
      if (!crossed && since_print < kPlainIntervalS) return;
    }
  }
  last_print_ = now;
  last_done_printed_ = done;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : 0;
  std::ostringstream os;
  os << title_ << " ";
  if (tty_) {
    const int filled = total_ > 0 ? static_cast<int>(kBarWidth * done / total_) : kBarWidth;
    os << "[" << std::string(filled, '=') << (filled < kBarWidth ? ">" : "")
       << std::string(std::max(0, kBarWidth - filled - 1), ' ') << "] ";
  }
  os << done << "/" << total_ << " " << unit_ << "s";
  if (!stats.empty()) os << " | " << stats;
  os << " | " << clock_string(elapsed) << (final ? "" : " ETA " + clock_string(eta));
  if (tty_) {
    std::fprintf(stdout, "\r\033[K%s%s", os.str().c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stdout, "%s\n", os.str().c_str());
  }
  std::fflush(stdout);
}

}  // namespace kiln::runtime
