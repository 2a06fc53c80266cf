// Runs a child command (mpirun and its ranks) in its own process group and supervises it: every output line is
// re-prefixed with `[host:rank]` (from mpirun's --tag-output tags) and teed into <logs>/rank_K.log; mpirun's own
// messages go to <logs>/mpirun.log and, unless kiln stops the job first, to the console (launcher/src/job_output.h);
// SIGINT/SIGTERM are forwarded; if the launcher itself dies, the child gets SIGTERM (PR_SET_PDEATHSIG), so nothing is orphaned.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace kiln::launcher {

struct SupervisedRun {
  std::vector<std::string> argv;   // argv[0] is looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // added to the child's environment
  std::string logs_dir;            // rank_K.log files (created); empty = no per-rank logs
  std::string host;                // used in the [host:rank] prefix of a rank rank_hosts does not name
  std::vector<std::string> rank_hosts;  // the host of rank r (from the placement), for its [host:rank] prefix
  bool srun_labels = false;        // lines come from `srun --label` ("3: text") instead of mpirun --tag-output
  int hold_ms = 3000;              // how long mpirun's (srun's) own messages wait before they reach the console
  // When set, the first SIGINT/SIGTERM/SIGUSR1 is not forwarded: this is called (on the supervising thread) to ask
  // the ranks to stop at an agreed step, and mpirun gets SIGTERM only after stop_grace_s or a second signal.
  std::function<void(int signo)> graceful_stop;
  int stop_grace_s = 60;
};

// Returns the child's exit code (128 + signal when it was killed).
int supervise(const SupervisedRun& run);

// The first SIGINT/SIGTERM/SIGUSR1 this launcher received during supervise() (0 when none).
int forwarded_signal();

// Ends the supervised job (safe from any thread): SIGTERM to the child, SIGKILL to its process group if it is
// still there after `grace_ms` (mpirun, told to end ranks on a host it can no longer reach, would wait for minutes);
// whatever it leaves behind is killed when it has gone.
void terminate_supervised(int grace_ms = 500);

// Parses an mpirun --tag-output line "[jobid,rank]<stdout>:text" / "<stderr>:". Returns false for untagged lines.
bool parse_tagged_line(const std::string& line, int& rank, std::string& text);
// Parses an `srun --label` line "  3: text". Returns false for unlabelled lines.
bool parse_srun_label(const std::string& line, int& rank, std::string& text);

// True for a line Open MPI itself writes from inside a process: "[host:pid] text" ("[vm:26973] Read -1, expected
// 123412, errno = 3", "[vm:812] *** Process received signal ***"). kiln's own lines never start with '['.
bool is_open_mpi_message(const std::string& text);

}  // namespace kiln::launcher
