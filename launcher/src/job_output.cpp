#include "job_output.h"

#include <cctype>
#include <filesystem>
#include <vector>

#include "kiln/common/log.h"
#include "kiln/launcher/supervisor.h"

namespace kiln::launcher {
namespace {

// Where the next mpirun tag "[digits,digits]<word>:" starts at or after `from`; npos when there is none.
size_t next_tag(const std::string& s, size_t from) {
  for (size_t at = s.find('[', from); at != std::string::npos; at = s.find('[', at + 1)) {
    size_t i = at + 1;
    const auto digits = [&] {
      const size_t start = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
      return i > start;
    };
    if (!digits() || i >= s.size() || s[i++] != ',' || !digits() || i + 1 >= s.size() || s[i] != ']' ||
        s[i + 1] != '<')
      continue;
    const size_t close = s.find(">:", i + 2);
    if (close == std::string::npos) continue;
    bool word = close > i + 2;
    for (size_t k = i + 2; k < close && word; ++k) word = std::isalpha(static_cast<unsigned char>(s[k]));
    if (word) return at;
  }
  return std::string::npos;
}

// A line split before every mpirun tag after its start: "[1,1]<stderr>:part[1,0]<stderr>:line" is two lines.
std::vector<std::string> split_at_tags(const std::string& raw) {
  std::vector<std::string> pieces;
  size_t start = 0;
  for (size_t at = next_tag(raw, 1); at != std::string::npos; at = next_tag(raw, at + 1)) {
    pieces.push_back(raw.substr(start, at - start));
    start = at;
  }
  pieces.push_back(raw.substr(start));
  return pieces;
}

}  // namespace

JobOutput::JobOutput(std::string host, std::vector<std::string> rank_hosts, std::string logs_dir, bool srun_labels,
                     std::chrono::milliseconds hold)
    : host_(std::move(host)),
      logs_dir_(std::move(logs_dir)),
      launcher_log_name_(srun_labels ? "srun.log" : "mpirun.log"),
      rank_hosts_(std::move(rank_hosts)),
      srun_labels_(srun_labels),
      hold_(hold) {
  if (!logs_dir_.empty()) std::filesystem::create_directories(logs_dir_);
}

void JobOutput::append(File& file, const std::string& name, const std::string& text) {
  if (logs_dir_.empty()) return;
  if (!file) file = File(std::fopen((logs_dir_ + "/" + name).c_str(), "a"), std::fclose);
  if (!file) return;  // the console still has the line
  std::fprintf(file.get(), "%s\n", text.c_str());
  std::fflush(file.get());
}

void JobOutput::line(const std::string& raw) {
  if (srun_labels_) return route(raw);
  for (const auto& piece : split_at_tags(raw)) route(piece);
}

void JobOutput::route(const std::string& piece) {
  int rank = -1;
  std::string text;
  if (srun_labels_ ? parse_srun_label(piece, rank, text) : parse_tagged_line(piece, rank, text)) return rank_line(rank, text);
  append(launcher_log_, launcher_log_name_, piece);
  hold(piece);
}

void JobOutput::rank_line(int rank, const std::string& text) {
  File& log = rank_logs_.try_emplace(rank, File(nullptr, std::fclose)).first->second;
  append(log, "rank_" + std::to_string(rank) + ".log", text);
  const bool placed = rank >= 0 && static_cast<size_t>(rank) < rank_hosts_.size();
  const std::string printed = "[" + (placed ? rank_hosts_[static_cast<size_t>(rank)] : host_) + ":" +
                              std::to_string(rank) + "] " + text;
  if (is_open_mpi_message(text)) {
    append(launcher_log_, launcher_log_name_, printed);
    return hold(printed);
  }
  std::printf("%s\n", printed.c_str());
  std::fflush(stdout);
  log::also_to_file(printed);
}

void JobOutput::hold(const std::string& printed) { held_.push_back({Clock::now(), printed}); }

void JobOutput::release(bool stopping) {
  if (stopping && !logs_dir_.empty()) return;  // kept until finish() says where they went
  const auto due = Clock::now() - hold_;
  while (!held_.empty() && held_.front().at <= due) {
    std::printf("%s\n", held_.front().line.c_str());
    log::also_to_file(held_.front().line);
    held_.pop_front();
  }
  std::fflush(stdout);
}

void JobOutput::finish(bool stopping) {
  if (!stopping || logs_dir_.empty()) {
    hold_ = std::chrono::milliseconds(0);
    release(false);
    return;
  }
  if (held_.empty()) return;
  log::info(log::cat(held_.size(), " line(s) of ", launcher_log_name_.substr(0, launcher_log_name_.find('.')),
                     "'s own output after the job was stopped are in ", logs_dir_, "/", launcher_log_name_));
  held_.clear();
}

}  // namespace kiln::launcher
