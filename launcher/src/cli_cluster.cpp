// `kiln cluster check`: a job's preflight (docs/cli.md).
#include <iostream>
#include <memory>

#include "cli_commands.h"
#include "cli_launch.h"
#include "cli_options.h"
#include "kiln/cluster/cluster_config.h"

namespace kiln::launcher::cli {
namespace {

// The launcher prints the placement and starts one rank per slot; each rank (or a lone process) runs the check.
Action bind_cluster_check(CLI::App& cmd) {
  auto job = std::make_shared<JobLaunch>();
  add_launch_options(cmd, *job);
  return [job](const Invocation& in) {
    const auto rank = in.runtime.discover_rank();
    if (wants_launch(*job) && !rank.distributed()) {
      std::cout << cluster::placement_table(job_cluster(*job)) << std::flush;
      return launch_ranks(in, *job);
    }
    if (job->dry_run) {  // nothing to launch: the check would run in this process alone
      std::cout << "Launch plan: no launcher; this process (" << rank.str() << ") would join the MPI world and "
                << "measure the all-reduce bandwidth\nDry run: nothing was started." << std::endl;
      return 0;
    }
    in.runtime.cluster_check(rank);
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
