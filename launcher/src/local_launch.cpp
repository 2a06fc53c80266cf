#include "kiln/launcher/local_launch.h"

#include <unistd.h>

#include <climits>
#include <iostream>
#include <thread>

#include "kiln/common/error.h"
#include "kiln/launcher/supervisor.h"

namespace kiln::launcher {

std::vector<std::string> strip_option(const std::vector<std::string>& argv, const std::string& name,
                                      bool takes_value) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == name) {
      if (takes_value) ++i;
      continue;
    }
    if (takes_value && argv[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    if (!a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") ==
                          std::string::npos) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

std::vector<std::string> local_mpirun_command(const LocalLaunch& job, const std::string& kiln_exe, int cores,
                                              bool as_root) {
  const int threads = std::max(1, cores / job.num_processes);
  std::vector<std::string> cmd{"mpirun", "-np", std::to_string(job.num_processes), "--tag-output"};
  if (as_root) cmd.push_back("--allow-run-as-root");
  // One core per rank when they fit (OpenBLAS and OpenMP then stay on their core); otherwise no binding.
  if (job.num_processes <= cores) {
    cmd.insert(cmd.end(), {"--bind-to", "core", "--map-by", "core"});
  } else {
    cmd.insert(cmd.end(), {"--oversubscribe", "--bind-to", "none"});
  }
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"})
    cmd.insert(cmd.end(), {"-x", std::string(var) + "=" + std::to_string(threads)});
  cmd.push_back(kiln_exe);
  cmd.insert(cmd.end(), job.worker_args.begin(), job.worker_args.end());
  return cmd;
}

int launch_local(const LocalLaunch& job) {
  char exe[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw Error("cannot find kiln's own executable (/proc/self/exe)");
  exe[n] = '\0';
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SupervisedRun run;
  run.argv = local_mpirun_command(job, exe, cores, ::geteuid() == 0);
  run.logs_dir = job.results_dir.empty() ? "" : job.results_dir + "/logs";
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  run.host = host;
  std::cout << "Launching " << job.num_processes << " ranks: " << shell_join(run.argv) << std::endl;
  if (job.dry_run) return 0;
  return supervise(run);
}

}  // namespace kiln::launcher
