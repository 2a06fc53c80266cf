#include "cluster_config_rules.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "kiln/common/env_knobs.h"
#include "kiln/common/error.h"

namespace kiln::cluster::detail {
namespace {

bool all_of(const std::string& s, bool (*ok)(char)) { return !s.empty() && std::all_of(s.begin(), s.end(), ok); }

bool digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '@';
}

bool interface_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
}

bool env_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Set by kiln or its launchers for each job and rank; a fixed value from the cluster file would break them.
const std::set<std::string>& kiln_variables() {
  static const std::set<std::string> names{
      knob::kRank.name,     knob::kWorldSize.name, knob::kLocalRank.name, knob::kLocalWorldSize.name,
      knob::kNodeRank.name, knob::kJobToken.name,  knob::kRankGpus.name,  "RANK",
      "WORLD_SIZE",         "LOCAL_RANK",          "LOCAL_WORLD_SIZE"};
  return names;
}

// "MM" or "SS": two digits below 60.
bool sexagesimal(const std::string& s) { return s.size() == 2 && all_of(s, digit) && std::stoi(s) < 60; }

}  // namespace

std::string host_problem(const std::string& host) {
  if (host.empty()) return "expected a host name, got an empty string";
  if (!all_of(host, host_char) || host.front() == '-') {
    return "'" + host + "' is not a host name (letters, digits, '.', '-', '_', or user@host)";
  }
  return "";
}

std::string env_name_problem(const std::string& name, bool reserved_ok) {
  if (!all_of(name, env_char) || digit(name.front())) {
    return "'" + name + "' is not an environment variable name (letters, digits and '_', not starting with a digit)";
  }
  if (reserved_ok) return "";
  if (name == knob::kMasterAddr.name || name == "MASTER_ADDR") return "set network.master_addr instead of " + name;
  if (name == knob::kMasterPort.name || name == "MASTER_PORT") return "set network.master_port instead of " + name;
  if (kiln_variables().count(name)) return name + " is set by kiln for each job and rank";
  return "";
}

std::string slurm_time_problem(const std::string& time) {
  if (time.empty()) return "";
  const size_t dash = time.find('-');
  const bool days = dash != std::string::npos;
  const std::string clock = days ? time.substr(dash + 1) : time;
  const size_t c1 = clock.find(':');
  const size_t c2 = c1 == std::string::npos ? c1 : clock.find(':', c1 + 1);
  bool ok = c2 != std::string::npos && (!days || all_of(time.substr(0, dash), digit));
  if (ok) {
    const std::string hours = clock.substr(0, c1);
    ok = all_of(hours, digit) && hours.size() <= (days ? 2 : 4) && (!days || std::stoi(hours) < 24) &&
         sexagesimal(clock.substr(c1 + 1, c2 - c1 - 1)) && sexagesimal(clock.substr(c2 + 1));
  }
  if (ok) return "";
  return "'" + time + "' is not a time limit (write HH:MM:SS or D-HH:MM:SS, e.g. 04:00:00 or 2-00:00:00)";
}

long slurm_time_seconds(const std::string& time) {
  const size_t dash = time.find('-');
  const long days = dash == std::string::npos ? 0 : std::stol(time.substr(0, dash));
  const std::string clock = dash == std::string::npos ? time : time.substr(dash + 1);
  const size_t c1 = clock.find(':'), c2 = clock.find(':', c1 + 1);
  return ((days * 24 + std::stol(clock.substr(0, c1))) * 60 + std::stol(clock.substr(c1 + 1, c2 - c1 - 1))) * 60 +
         std::stol(clock.substr(c2 + 1));
}

std::string interface_problem(const std::string& interface) {
  if (interface.empty()) return "";
  std::string name;
  for (size_t i = 0; i <= interface.size(); ++i) {
    if (i < interface.size() && interface[i] != ',') {
      name += interface[i];
      continue;
    }
    if (!all_of(name, interface_char)) {
      return "'" + interface + "' is not a list of interface names (e.g. ib0 or eth0,eth1): it is given to " +
             "Open MPI (btl_tcp_if_include), NCCL (NCCL_SOCKET_IFNAME) and Gloo (GLOO_SOCKET_IFNAME)";
    }
    name.clear();
  }
  return "";
}

std::string mpirun_arg_problem(const std::string& arg) {
  const std::string option = arg.substr(0, arg.find('='));
  static const std::set<std::string> counts{"-np", "--np", "-n", "--n", "-c"};
  static const std::set<std::string> hosts{"-H",        "--host",        "-host",        "--hostfile",
                                           "-hostfile", "--machinefile", "-machinefile", "--default-hostfile"};
  if (counts.count(option)) return "'" + arg + "' is set by kiln: the number of ranks is the sum of the nodes' slots";
  if (hosts.count(option)) return "'" + arg + "' is set by kiln: the hosts come from nodes (or a hostfile)";
  return "";
}

std::string sbatch_option_problem(const std::string& option) {
  if (option.empty() || option.front() != '-' || option.find('\n') != std::string::npos) {
    return "'" + option + "' is not an sbatch option (write it as on sbatch's command line, e.g. --qos=high)";
  }
  return "";
}

SlurmShape slurm_shape(const ClusterConfig& config) {
  const Slurm& s = config.slurm;
  SlurmShape shape;
  if (config.nodes.empty()) {
    shape.nodes = s.nodes > 0 ? s.nodes : 1;
    shape.gpus_per_node = s.gpus_per_node;
    shape.tasks_per_node = s.ntasks_per_node > 0 ? s.ntasks_per_node : std::max(1, s.gpus_per_node);
    return shape;
  }
  const std::string where = config.source.empty() ? "" : config.source + ": ";
  const Node& first = config.nodes.front();
  for (const Node& n : config.nodes) {
    if (n.slots != first.slots) {
      throw UsageError(where + "slurm starts the same number of ranks on every node, but " + first.host + " has " +
                       std::to_string(first.slots) + " slots and " + n.host + " has " + std::to_string(n.slots) +
                       " (make them equal, or use launcher mpirun)");
    }
  }
  shape.nodes = static_cast<int>(config.nodes.size());
  shape.tasks_per_node = first.slots;
  if (s.nodes > 0 && s.nodes != shape.nodes) {
    throw UsageError(where + "slurm.nodes is " + std::to_string(s.nodes) + " but nodes lists " +
                     std::to_string(shape.nodes) + " hosts");
  }
  if (s.ntasks_per_node > 0 && s.ntasks_per_node != shape.tasks_per_node) {
    throw UsageError(where + "slurm.ntasks_per_node is " + std::to_string(s.ntasks_per_node) + " but the nodes have " +
                     std::to_string(shape.tasks_per_node) + " slots each");
  }
  shape.gpus_per_node = s.gpus_per_node;
  const size_t gpus = first.gpus.size();
  const bool same_gpus =
      std::all_of(config.nodes.begin(), config.nodes.end(), [&](const Node& n) { return n.gpus.size() == gpus; });
  if (shape.gpus_per_node == 0 && same_gpus) shape.gpus_per_node = static_cast<int>(gpus);
  return shape;
}

std::string host_list(const ClusterConfig& config) {
  std::string text;
  for (size_t i = 0; i < config.nodes.size(); ++i) {
    if (i > 0) text += i + 1 == config.nodes.size() ? " and " : ", ";
    text += config.nodes[i].host;
  }
  return text;
}

}  // namespace kiln::cluster::detail
