// Where the lines of a supervised job go. A rank's line ("[1,3]<stdout>:text" from mpirun --tag-output, "3: text"
// from srun --label) is printed as "[host:3] text" and appended to <logs>/rank_3.log. The launcher's own messages —
// mpirun's or srun's untagged lines, and Open MPI's "[host:pid] …" lines from inside a rank (a peer's shared-memory
// read failing, a PMIx_Finalize backtrace) — are appended to <logs>/mpirun.log (srun.log) at once but reach the
// console only after a hold: if kiln stops the job meanwhile (a rank failed, the user pressed Ctrl-C), they stay in
// that file, so the console ends with kiln's one cause line instead of the launcher's echo of the same failure.
#pragma once
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln::launcher {

class JobOutput {
 public:
  using Clock = std::chrono::steady_clock;
  // Rank r's lines are prefixed with rank_hosts[r], or `host` beyond them. logs_dir may be empty: no files, and the
  // launcher's messages are printed after the hold, stop or not.
  JobOutput(std::string host, std::vector<std::string> rank_hosts, std::string logs_dir, bool srun_labels,
            std::chrono::milliseconds hold);

  // One line of the child's output, without its newline. A line holding further mpirun tags (a rank's unfinished
  // line followed by another rank's) is split at each tag.
  void line(const std::string& raw);
  // Prints the launcher's messages held longer than the hold, unless the job is stopping.
  void release(bool stopping);
  // At the end of the job: prints what is still held, or, when kiln stopped the job, says where it went.
  void finish(bool stopping);

  // The name of the launcher's own log ("mpirun.log" or "srun.log").
  const std::string& launcher_log_name() const { return launcher_log_name_; }

 private:
  void route(const std::string& piece);
  void rank_line(int rank, const std::string& text);
  void hold(const std::string& printed);
  struct Held {
    Clock::time_point at;
    std::string line;
  };
  using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;
  void append(File& file, const std::string& name, const std::string& text);
  std::string host_, logs_dir_, launcher_log_name_;
  std::vector<std::string> rank_hosts_;
  bool srun_labels_;
  std::chrono::milliseconds hold_;
  std::deque<Held> held_;
  std::map<int, File> rank_logs_;
  File launcher_log_{nullptr, std::fclose};
};

}  // namespace kiln::launcher
