// Rules shared by the cluster YAML schema, the hostfile reader, the host filters and the command builders.
// Each *_problem function returns "" when its argument is fine, else the message for the user.
#pragma once
#include <string>

#include "kiln/cluster/cluster_config.h"

namespace kiln::cluster::detail {

std::string host_problem(const std::string& host);
// `reserved_ok`: kiln's own variables (KILN_RANK, KILN_JOB_TOKEN, ...) are allowed; the cluster YAML may not set them.
std::string env_name_problem(const std::string& name, bool reserved_ok = false);
std::string slurm_time_problem(const std::string& time);
// A time limit that slurm_time_problem accepts, in seconds.
long slurm_time_seconds(const std::string& time);
std::string interface_problem(const std::string& interface);
std::string mpirun_arg_problem(const std::string& arg);
std::string sbatch_option_problem(const std::string& option);

// What one Slurm job step looks like for a config (see Slurm in cluster_config.h).
struct SlurmShape {
  int nodes = 1;
  int tasks_per_node = 1;
  int gpus_per_node = 0;  // 0: none requested
};

// Throws kiln::UsageError (naming config.source) when the nodes cannot be one job step: unequal slots, or
// slurm.nodes / slurm.ntasks_per_node contradicting the listed nodes.
SlurmShape slurm_shape(const ClusterConfig& config);

// "a, b and c"
std::string host_list(const ClusterConfig& config);

}  // namespace kiln::cluster::detail
