// Which hosts a restarted job runs on (`--nnodes MIN:MAX`, torchrun's name; docs/cli.md, "Restarting after a
// failure"). Between launches, a host whose ranks failed twice, or that does not answer a probe, is left out, as
// long as MIN hosts remain; the job then resumes on the others with a smaller world.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kiln/cluster/cluster_config.h"

namespace kiln::launcher {

// The host part of a cluster file's "user@host".
std::string bare_host(const std::string& host);

// "" when `host` answers, else why not.
using HostProbe = std::function<std::string(const std::string& host)>;

// Whether `host` answers on the network: a TCP connection to its ssh port (22) from here, where "refused" counts as
// an answer (the host is up; nothing listens). Unreachable, no route or no answer within `timeout_ms` does not.
std::string probe_tcp(const std::string& host, int timeout_ms = 2000);

// "2:3" or "3" (MIN = MAX). UsageError otherwise.
struct NodeRange {
  int min = 0, max = 0;  // 0: not given
};
NodeRange parse_nnodes(const std::string& text);

class HostPool {
 public:
  // The hosts of `config` are the MAX; UsageError unless they number exactly `range.max` and range.min >= 1.
  HostPool(cluster::ClusterConfig config, NodeRange range);

  const cluster::ClusterConfig& config() const { return config_; }
  // The host that rank `rank` of the last launch ran on ("" when out of range).
  std::string host_of_rank(int rank) const;
  // A failure of a rank on `host` (ignored for a host not in the pool).
  void blame(const std::string& host);
  // Before the next launch: leaves out hosts blamed twice and hosts `probe` finds silent, each with a line saying why
  // (returned). Throws Error (exit code 4) naming them when fewer than MIN hosts would remain.
  std::vector<std::string> prune(const HostProbe& probe);

 private:
  cluster::ClusterConfig config_;
  NodeRange range_;
  std::map<std::string, int> strikes_;
};

}  // namespace kiln::launcher
