#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kiln/common/env.h"
#include "kiln/common/env_knobs.h"
#include "kiln/runtime/report.h"

namespace kiln::runtime {

namespace {
constexpr int kMinBar = 10, kMaxBar = 30;
constexpr double kPlainIntervalS = 30.0;
constexpr double kQuietStartS = 1.5;  // nothing is drawn before: quick work shows its final line only
constexpr double kRedrawS = 0.1;

std::string clock_string(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

// "batch" -> "batches", "image" -> "images".
std::string plural(const std::string& unit) {
  const auto ends = [&](const char* tail) {
    const std::string t(tail);
    return unit.size() >= t.size() && unit.compare(unit.size() - t.size(), t.size(), t) == 0;
  };
  return unit + (ends("s") || ends("x") || ends("ch") || ends("sh") ? "es" : "s");
}

std::string bar_of(const ProgressView& v, int width) {
  const int filled = v.total > 0 ? static_cast<int>(width * std::min(v.done, v.total) / v.total) : width;
  return "[" + std::string(filled, '=') + (filled < width ? ">" : "") +
         std::string(std::max(0, width - filled - 1), ' ') + "]";
}

// The candidate lines, richest first (without the bar); each drops one more thing than the one before.
std::vector<std::string> candidates(const ProgressView& v) {
  const std::string count = std::to_string(v.done) + "/" + std::to_string(v.total);
  const std::string eta = v.final ? "" : "ETA " + clock_string(v.eta);
  const std::string run = v.run_eta >= 0 ? "run ETA " + clock_string(v.run_eta) : eta;  // the one kept to the last
  const std::string own = v.run_eta >= 0 && !v.final ? clock_string(v.elapsed) + " " + eta : clock_string(v.elapsed);
  const auto join = [](std::initializer_list<std::string> parts) {
    std::string out;
    for (const std::string& p : parts) {
      if (p.empty()) continue;
      out += (out.empty() ? "" : " | ") + p;
    }
    return out;
  };
  const std::string head = v.title + " " + count;
  return {join({head + " " + plural(v.unit), v.stats, own, run}),
          join({head, v.stats, own, run}),
          join({head, own, run}),
          join({head, run.empty() ? own : run}),
          join({count, run.empty() ? own : run}),
          run.empty() ? own : run};
}

int terminal_columns() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  const long columns = std::strtol(env_string("COLUMNS").c_str(), nullptr, 10);
  return columns > 0 ? static_cast<int>(columns) : 80;
}

// KILN_PROGRESS=bar|plain|auto (default). Ranks under mpirun write to a pseudo-terminal whose lines mpirun tags and
// interleaves, so auto means plain lines there.
bool use_bar() {
  const std::string mode = env_string(knob::kProgress);
  if (mode == "bar") return true;
  if (mode == "plain") return false;
  return ::isatty(STDOUT_FILENO) == 1 && env_string("OMPI_COMM_WORLD_SIZE").empty() && env_string("PMIX_RANK").empty();
}
}  // namespace

std::string progress_line(const ProgressView& v, int width) {
  const size_t limit = width > 0 ? static_cast<size_t>(width - 1) : std::string::npos;
  const std::vector<std::string> lines = candidates(v);
  if (v.bar) {  // the bar goes first: only the richest line carries one, as wide as the room allows
    const std::string& full = lines.front();
    const size_t title_end = v.title.size();
    const size_t room = limit == std::string::npos ? kMaxBar + 3 : (limit > full.size() ? limit - full.size() : 0);
    if (room >= static_cast<size_t>(kMinBar + 3)) {
      const int bar = std::min<int>(kMaxBar, static_cast<int>(room) - 3);
      return full.substr(0, title_end) + " " + bar_of(v, bar) + full.substr(title_end);
    }
  }
  for (const std::string& line : lines)
    if (line.size() <= limit) return line;
  return lines.back().substr(0, limit);
}

ProgressOutput ProgressOutput::standard() {
  ProgressOutput out;
  out.bar = use_bar();
  return out;
}

Progress::Progress(std::string title, int64_t total, std::string unit, ProgressOutput output)
    : title_(std::move(title)), unit_(std::move(unit)), total_(total), output_(output),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

void Progress::set_after(int64_t later_units, double later_seconds) {
  later_units_ = later_units, later_seconds_ = later_seconds, has_run_ = true;
}

void Progress::update(int64_t done, const std::string& stats) { emit(done, stats, false); }
void Progress::finish(const std::string& stats) { emit(total_, stats, true); }

void Progress::emit(int64_t done, const std::string& stats, bool final) {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  if (!final) {
    if (elapsed < kQuietStartS) return;
    if (output_.bar && since_print < kRedrawS) return;
    if (!output_.bar) {
      const int64_t tenth = std::max<int64_t>(1, total_ / 10);
      const bool crossed = last_done_printed_ < 0 ? done >= tenth : done / tenth > last_done_printed_ / tenth;
      if (!crossed && since_print < kPlainIntervalS) return;
    }
  }
  last_print_ = now;
  last_done_printed_ = done;
  ProgressView v;
  v.title = title_, v.unit = unit_, v.stats = stats, v.done = done, v.total = total_;
  v.elapsed = elapsed, v.bar = output_.bar, v.final = final;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  v.eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  if (has_run_) {
    const double later = later_seconds_ >= 0 ? later_seconds_ : (rate > 0 ? later_units_ / rate : 0);
    v.run_eta = (final ? 0 : v.eta) + later;
  }
  const int columns = output_.columns > 0 ? output_.columns : (output_.bar ? terminal_columns() : 0);
  const std::string line = progress_line(v, columns);
  if (output_.bar)
    std::fprintf(output_.file, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(output_.file, "%s\n", line.c_str());
  std::fflush(output_.file);
}

}  // namespace kiln::runtime
