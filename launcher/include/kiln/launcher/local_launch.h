// `--num_processes N` on one host: the launcher re-runs this very command as N CPU ranks through mpirun (the MPI
// backend needs an MPI world), supervises them, and returns the job's exit code.
#pragma once
#include <string>
#include <vector>

namespace kiln::launcher {

struct LocalLaunch {
  int num_processes = 2;
  std::vector<std::string> worker_args;  // kiln's arguments for every rank (launch options removed)
  std::string results_dir;               // logs go to <results_dir>/logs/rank_K.log
  bool dry_run = false;                  // print the command, run nothing
};

// The mpirun command line for a local job (pure; tested with golden strings).
std::vector<std::string> local_mpirun_command(const LocalLaunch& job, const std::string& kiln_exe, int cores,
                                              bool as_root);

int launch_local(const LocalLaunch& job);

// argv without `--name VALUE` / `--name=VALUE` (or the bare flag when takes_value is false).
std::vector<std::string> strip_option(const std::vector<std::string>& argv, const std::string& name, bool takes_value);

std::string shell_join(const std::vector<std::string>& argv);

}  // namespace kiln::launcher
