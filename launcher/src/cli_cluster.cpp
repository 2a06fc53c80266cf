// `kiln cluster check`: a job's preflight (docs/cli.md).
#include <iostream>
#include <memory>

#include "cli_commands.h"
#include "cli_launch.h"
#include "cli_options.h"
#include "kiln/cluster/cluster_config.h"
#include "kiln/runtime/tasks.h"

namespace kiln::launcher::cli {
namespace {

// The launcher prints the placement and starts one rank per slot; each rank (or a lone process) runs the check.
Action bind_cluster_check(CLI::App& cmd) {
  auto job = std::make_shared<JobLaunch>();
  add_launch_options(cmd, *job);
  auto opts = std::make_shared<runtime::ClusterCheckOptions>();
  cmd.add_option("--sizes", opts->sizes_mib,
                 "All-reduce sizes to measure, in MiB (default 1,25,100; fractions too: 0.0625 = 64 KiB)")
      ->delimiter(',')
      ->check(CLI::Range(1.0 / (1 << 18), 16384.0));
  cmd.add_option("--iterations", opts->iterations, "Timed all-reduces per size; the best counts (default 5)")
      ->check(CLI::Range(1, 1000));
  return [job, opts](const Invocation& in) {
    const auto rank = in.runtime.discover_rank();
    if (wants_launch(*job) && !rank.distributed()) {
      std::cout << cluster::placement_table(job_cluster(*job)) << std::flush;
      return launch_ranks(in, *job);
    }
    if (job->dry_run) {  // nothing to launch: the check would run in this process alone
      std::cout << "Launch plan: no launcher; this process (" << rank.str() << ") would join the other ranks and "
                << "measure the all-reduce bandwidth\nDry run: nothing was started." << std::endl;
      return 0;
    }
    in.runtime.cluster_check(rank, *opts);
    return 0;
  };
}

}  // namespace

void add_cluster_commands(CommandTable& table) {
  table.group("cluster", "Cluster tools");
  table.command({"cluster", "check"}, "Preflight: every rank reachable, placement, all-reduce bandwidth",
                bind_cluster_check);
}

}  // namespace kiln::launcher::cli
