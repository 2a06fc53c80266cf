#include "kiln/launcher/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>
#include <thread>

#include "kiln/common/check.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "job_output.h"

namespace kiln::launcher {
namespace {

std::atomic<pid_t> g_child{0};
std::atomic<int> g_forwarded{0};
std::atomic<bool> g_stopping{false};  // kiln is ending the job: a rank failed, or the user sent a signal
std::atomic<bool> g_terminated{false};  // terminate_supervised(): the job failed and its ranks were told to abort
std::atomic<bool> g_graceful{false};  // the first signal asks the ranks to stop (SupervisedRun::graceful_stop)

extern "C" void forward_signal(int signo) {
  int none = 0;
  const bool first = g_forwarded.compare_exchange_strong(none, signo);
  g_stopping.store(true);
  if (first && g_graceful.load()) return;  // supervise() asks the ranks through the control plane
  const pid_t child = g_child.load();
  // mpirun forwards SIGINT/SIGTERM to its ranks; SIGUSR1 would be forwarded as is, so it becomes SIGTERM.
  if (child > 0) ::kill(child, signo == SIGUSR1 ? SIGTERM : signo);
}

// Restores the previous handlers when supervision ends.
class SignalForwarding {
 public:
  SignalForwarding() {
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    sigaction(SIGUSR1, &sa, &old_usr1_);
  }
  ~SignalForwarding() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_usr1_ {};
};

// Ranks that outlive mpirun were re-parented to this launcher (a child subreaper, see supervise()). Give them a
// moment to finish, then kill and reap every one, so the launcher never returns while a rank is still running.
std::vector<pid_t> own_children() {
  std::vector<pid_t> out;
  const std::string me = std::to_string(::getpid());
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == me) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

void reap_orphans(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  bool killed = false;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(-1, &status, WNOHANG);
    if (r > 0) continue;
    if (r < 0 && errno == ECHILD) return;  // nothing left
    if (!killed && std::chrono::steady_clock::now() > deadline) {
      for (pid_t child : own_children()) ::kill(child, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

int forwarded_signal() { return g_forwarded.load(); }

namespace {
// The first signal, when the job can stop gracefully: the ranks are asked (run.graceful_stop) and given
// run.stop_grace_s to stop at an agreed step and checkpoint; then, or at a second signal, mpirun gets SIGTERM.
class GracefulStop {
 public:
  explicit GracefulStop(const SupervisedRun& run) : run_(run) {}
  void poll() {
    if (!run_.graceful_stop) return;
    const int signo = g_forwarded.load();
    if (signo == 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (!asked_) {
      asked_ = true;
      deadline_ = now + std::chrono::seconds(run_.stop_grace_s);
      log::warn("received " + signal_name(signo) + ": the ranks stop after their current step and save a checkpoint "
                "(a second signal, or " + std::to_string(run_.stop_grace_s) + " s, ends them at once)");
      run_.graceful_stop(signo);
    } else if (!terminated_ && now > deadline_) {
      terminated_ = true;
      log::error("the ranks did not stop within " + std::to_string(run_.stop_grace_s) + " s; terminating them");
      const pid_t child = g_child.load();
      if (child > 0) ::kill(child, SIGTERM);
    }
  }

 private:
  const SupervisedRun& run_;
  bool asked_ = false, terminated_ = false;
  std::chrono::steady_clock::time_point deadline_;
};
}  // namespace

void terminate_supervised(int grace_ms) {
  const pid_t child = g_child.load();
  if (child <= 0) return;
  g_stopping.store(true);
  g_terminated.store(true);
  ::kill(child, SIGTERM);
  std::thread([child, grace_ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(grace_ms));
    if (g_child.load() == child) ::kill(-child, SIGKILL);
  }).detach();
}

bool parse_tagged_line(const std::string& line, int& rank, std::string& text) {
  // "[1,3]<stdout>:text" — jobid, rank, stream.
  if (line.size() < 6 || line[0] != '[') return false;
  const auto comma = line.find(',');
  const auto close = line.find(']');
  if (comma == std::string::npos || close == std::string::npos || comma > close) return false;
  const auto colon = line.find(">:", close);
  if (colon == std::string::npos || line[close + 1] != '<') return false;
  try {
    rank = std::stoi(line.substr(comma + 1, close - comma - 1));
  } catch (const std::exception&) {
    return false;
  }
  text = line.substr(colon + 2);
  return true;
}

bool parse_srun_label(const std::string& line, int& rank, std::string& text) {
  const auto start = line.find_first_not_of(' ');
  const auto colon = line.find(": ", start == std::string::npos ? 0 : start);
  if (start == std::string::npos || colon == std::string::npos || colon == start) return false;
  if (line.find_first_not_of("0123456789", start) != colon) return false;
  rank = std::stoi(line.substr(start, colon - start));
  text = line.substr(colon + 2);
  return true;
}

bool is_open_mpi_message(const std::string& text) {
  if (text.size() < 5 || text[0] != '[') return false;
  const auto close = text.find("] ");
  const auto colon = text.rfind(':', close);
  if (close == std::string::npos || colon == std::string::npos || colon < 2 || colon + 1 == close) return false;
  for (size_t i = 1; i < colon; ++i)
    if (std::isspace(static_cast<unsigned char>(text[i]))) return false;
  for (size_t i = colon + 1; i < close; ++i)
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  return true;
}

namespace {
// mpirun's exit, noticed while its output is still being read. What it left behind (a daemon that detached from its
// process group, cut off from mpirun on a host whose link went down) can hold the output pipe open for minutes, so
// mpirun's end, after a short drain, is the end of the output; reap_orphans() then deals with the rest.
class ChildExit {
 public:
  explicit ChildExit(pid_t pid) : pid_(pid) {}
  bool drained(std::chrono::milliseconds drain) {
    const auto now = std::chrono::steady_clock::now();
    if (!exited_) {
      if (::waitpid(pid_, &status_, WNOHANG) != pid_) return false;
      exited_ = true;
      at_ = now;
    }
    return now - at_ > drain;
  }
  int wait() {
    while (!exited_ && ::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    exited_ = true;
    return status_;
  }

 private:
  pid_t pid_;
  bool exited_ = false;
  int status_ = 0;
  std::chrono::steady_clock::time_point at_;
};

constexpr std::chrono::milliseconds kOutputDrain{300};
}  // namespace

int supervise(const SupervisedRun& run) {
  if (run.argv.empty()) throw Error("supervise: empty command");
  // Ranks whose mpirun has gone are re-parented to us instead of init, so we can make sure none survives.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  g_forwarded = 0;
  int pipefd[2];
  KILN_SYSCALL(::pipe2(pipefd, O_CLOEXEC), "creating the output pipe");
  const pid_t parent = ::getpid();
  const pid_t pid = KILN_SYSCALL(::fork(), "starting " + run.argv[0]);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the launcher died: take the job down with it
    if (::getppid() != parent) ::_exit(143);
    ::setpgid(0, 0);
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::dup2(pipefd[1], STDERR_FILENO);
    for (const auto& [k, v] : run.env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& a : run.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "kiln: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  g_child = pid;
  g_graceful = static_cast<bool>(run.graceful_stop);
  SignalForwarding forwarding;
  GracefulStop graceful(run);

  JobOutput output(run.host, run.rank_hosts, run.logs_dir, run.srun_labels, std::chrono::milliseconds(run.hold_ms));
  std::string pending;
  char buf[8192];
  pollfd in{pipefd[0], POLLIN, 0};
  ChildExit child(pid);
  while (!child.drained(g_terminated.load() ? std::chrono::milliseconds(0) : kOutputDrain)) {
    graceful.poll();
    output.release(g_stopping.load());
    const int ready = ::poll(&in, 1, 200);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    const ssize_t n = ::read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
      output.line(pending.substr(start, nl - start));
    pending.erase(0, start);
  }
  if (!pending.empty()) output.line(pending);
  ::close(pipefd[0]);

  const int status = child.wait();
  g_child = 0;
  ::kill(-pid, SIGKILL);  // anything left in mpirun's process group
  // Left behind by a job that ended normally: a moment to finish. By a failed one: they were told to abort before
  // mpirun was (terminate_supervised), and whatever still runs (a rank cut off from the network, a detached daemon)
  // is killed now.
  reap_orphans(g_terminated.exchange(false) ? std::chrono::milliseconds(0) : std::chrono::milliseconds(3000));
  output.finish(g_stopping.exchange(false));
  g_graceful = false;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace kiln::launcher
