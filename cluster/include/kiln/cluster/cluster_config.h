// The machines a job runs on: a cluster YAML, validated like a spec (every problem at once as
// `file:line:column: key.path: message`, exit 2), or an Open MPI / DeepSpeed hostfile; DeepSpeed-style
// --include/--exclude filters; and the placement of ranks on hosts and GPUs. docs/cluster.md is the user's reference.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::cluster {

enum class Launcher { kLocal, kMpirun, kSlurm };

const char* launcher_name(Launcher launcher);                         // "local", "mpirun", "slurm"
std::optional<Launcher> launcher_from_name(const std::string& name);  // nullopt for anything else

struct Node {
  std::string host;
  int slots = 1;          // ranks on this host
  std::vector<int> gpus;  // device of local rank i is gpus[i]; empty: the runtime's default (local rank i → device i)
};

struct Network {
  std::string interface;    // NIC(s) for Open MPI's TCP traffic and NCCL's sockets; "" lets them choose
  std::string master_addr;  // where rank 0's control plane listens; "" = the first node's host
  int master_port = 0;      // 0 = pick a free port
};

struct Slurm {
  std::string partition;  // "" = the site's defaults, for all three
  std::string time;       // "HH:MM:SS" or "D-HH:MM:SS"
  std::string account;
  int nodes = 0;            // 0 = as many as `nodes` lists (1 when it lists none)
  int ntasks_per_node = 0;  // 0 = the listed nodes' slots (1 when none are listed)
  int gpus_per_node = 0;    // 0 = the listed nodes' number of gpus when they all list the same number, else none
  std::vector<std::string> sbatch;  // extra batch-script options, one per `#SBATCH` line, e.g. "--qos=high"
  // The batch script asks for USR1 this many seconds before the time limit (--signal=B:USR1@N; 0: no warning); the
  // ranks then stop at an agreed step with a checkpoint and, with `requeue`, the script puts the job back in the
  // queue (--requeue, `scontrol requeue`) to resume from it.
  int grace_seconds = 120;
  bool requeue = true;
};

struct ClusterConfig {
  std::string name = "kiln";  // the Slurm job name
  std::string source;         // the file it came from, for messages
  Launcher launcher = Launcher::kMpirun;
  std::vector<Node> nodes;  // may be empty for `local` (the launch flags decide) and `slurm` (the allocation does)
  Network network;
  std::map<std::string, std::string> env;  // set on every rank
  std::vector<std::string> mpirun_args;    // appended to mpirun's options; --bind-to/--map-by here replace kiln's
  Slurm slurm;

  int world_size() const;  // Σ slots (for slurm without listed nodes: slurm nodes × tasks per node)
};

// The YAML schema (docs/cluster.md's reference is generated from it).
const specs::Schema& cluster_schema();

// Reads and validates a cluster YAML. `overrides` are "key.path=value" strings as for specs (e.g. "launcher=slurm",
// "env.NCCL_DEBUG=INFO"), checked with the file. Throws specs::SpecError (a kiln::UsageError, exit 2).
ClusterConfig load_cluster_config(const std::string& file, const std::vector<std::string>& overrides = {});
ClusterConfig load_cluster_config_text(const std::string& yaml, const std::string& display_name,
                                       const std::vector<std::string>& overrides = {});

// Reads an Open MPI / DeepSpeed hostfile: one `host [slots=N] [max_slots=M]` per line, `#` comments, blank lines.
// A missing slots= means 1; max_slots is ignored. Each such remark is appended to `notes` (for the log), e.g.
// "hosts:3: max_slots is ignored (kiln starts exactly slots ranks per host)". Every problem is reported at once as
// `file:line:column: message` in a specs::SpecError. The result has launcher mpirun and its name is the file's stem.
ClusterConfig load_hostfile(const std::string& file, std::vector<std::string>* notes = nullptr);
ClusterConfig parse_hostfile(const std::string& text, const std::string& display_name,
                             std::vector<std::string>* notes = nullptr);

// `-c FILE`: a cluster YAML when FILE ends in .yaml or .yml, else a hostfile. A hostfile takes one override,
// "launcher=local|mpirun|slurm" (--launcher; local only for a single host); any other needs a YAML (UsageError).
ClusterConfig load_cluster(const std::string& file, const std::vector<std::string>& overrides = {},
                           std::vector<std::string>* notes = nullptr);

// DeepSpeed's --include/--exclude: "node1@node2:0,2" (hosts separated by '@', a host's slots after ':'); ',' between
// hosts is accepted too ("node1,node2:0,1"). Slot numbers are the host's GPU ids (its `gpus` list; a host without
// one has GPUs 0..slots-1, as DeepSpeed assumes): selecting some sets the host's `gpus` to them and `slots` to their
// count. Give at most one of the two. Throws kiln::UsageError for unknown hosts or slots, malformed text, or a
// filter that leaves no host.
ClusterConfig filter_hosts(const ClusterConfig& config, const std::string& include, const std::string& exclude);

// Where every rank runs: nodes in order, each filled with its slots (mpirun --map-by slot, srun's block layout).
struct RankPlace {
  int rank = 0;
  int node = 0;  // index into the nodes
  std::string host;
  int local_rank = 0;
  int local_size = 0;
  int gpu = -1;  // from the host's gpus list; -1 when it lists none
};

// For slurm without listed nodes the hosts are named "<slurm node K>" (the allocation decides).
std::vector<RankPlace> place_ranks(const ClusterConfig& config);

// The table `kiln cluster check` prints: a header, one row per rank, then "N ranks on M hosts (launcher L)".
std::string placement_table(const ClusterConfig& config);

}  // namespace kiln::cluster
