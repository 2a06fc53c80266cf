// The cluster YAML: its schema, the rules across keys, and the typed ClusterConfig built from a valid spec.
#include "kiln/cluster/cluster_config.h"

#include <filesystem>
#include <set>

#include "cluster_config_rules.h"

namespace kiln::cluster {
namespace {

using specs::Field;
using specs::Spec;
using specs::SpecIssue;
using specs::Value;

Field with_check(Field f, std::string (*problem)(const std::string&)) {
  f.check = [problem](const Value& v) { return problem(std::get<std::string>(v)); };
  return f;
}

// Each element checked on its own; the message names the first bad one.
Field string_list(std::string name, std::string doc, std::string (*problem)(const std::string&)) {
  Field f;
  f.name = std::move(name);
  f.type = specs::Type::kStringList;
  f.doc = std::move(doc);
  f.default_value = Value(std::vector<std::string>{});
  f.check = [problem](const Value& v) {
    for (const auto& item : std::get<std::vector<std::string>>(v)) {
      std::string p = problem(item);
      if (!p.empty()) return p;
    }
    return std::string();
  };
  return f;
}

Field gpu_list() {
  Field f = specs::int_list("gpus", {},
                            "GPU ids for this host's ranks: local rank i uses gpus[i]. Give one per slot "
                            "(slots may then be left out). Without it local rank i uses device i.",
                            0, 1023);
  f.check = [](const Value& v) {
    std::set<int64_t> seen;
    for (int64_t id : std::get<std::vector<int64_t>>(v)) {
      if (!seen.insert(id).second) return "GPU " + std::to_string(id) + " is listed twice";
    }
    return std::string();
  };
  return f;
}

Field nodes_field() {
  Field slots = specs::integer("slots", std::nullopt, "Ranks on this host. Required unless gpus is given.", 1, 4096);
  Field nodes = specs::group_list(
      "nodes",
      {specs::required(with_check(specs::string("host", std::nullopt, "Host name or address, as ssh/mpirun reach it."),
                                  detail::host_problem)),
       slots, gpu_list()},
      "The hosts, in rank order: the first node's slots are ranks 0..slots-1, and so on. Required for mpirun; "
      "local takes at most one; slurm may leave the hosts to the allocation.");
  return nodes;
}

Field network_field() {
  return specs::group(
      "network",
      {with_check(specs::string("interface", std::string(),
                                "Network interface(s) for rank traffic, e.g. ib0 or "
                                "eth0,eth1: Open MPI's btl_tcp_if_include, NCCL_SOCKET_IFNAME and "
                                "GLOO_SOCKET_IFNAME. Empty: their own choice."),
                  detail::interface_problem),
       specs::string("master_addr", std::string(), "Address of rank 0's control plane. Empty: the first node."),
       specs::integer("master_port", 0, "Port of the control plane; 0 picks a free port.", 0, 65535)},
      "Where ranks talk to each other.");
}

Field slurm_field() {
  return specs::group(
      "slurm",
      {specs::string("partition", std::string(), "Partition (-p). Empty: the site's default."),
       with_check(specs::string("time", std::string(), "Time limit, HH:MM:SS or D-HH:MM:SS. Empty: the default."),
                  detail::slurm_time_problem),
       specs::string("account", std::string(), "Account to charge (-A). Empty: the default."),
       specs::integer("nodes", 0, "Nodes to allocate; 0: as many as nodes lists (1 when it lists none).", 0, 100000),
       specs::integer("ntasks_per_node", 0, "Ranks per node; 0: the nodes' slots (else gpus_per_node, else 1).", 0,
                      4096),
       specs::integer("gpus_per_node", 0,
                      "GPUs per node (--gpus-per-node); 0: the nodes' gpus count when all list the same number.", 0,
                      1024),
       string_list("sbatch", "Extra sbatch options, one #SBATCH line each, e.g. [--qos=high, --exclusive].",
                   detail::sbatch_option_problem),
       specs::integer("grace_seconds", 120,
                      "Seconds before the time limit at which Slurm warns the job with USR1 (--signal=B:USR1@N): "
                      "the ranks stop at an agreed step with a checkpoint. 0: no warning.",
                      0, 86400),
       specs::boolean("requeue", true,
                      "After that checkpoint, put the job back in the queue (--requeue, scontrol requeue); "
                      "the requeued job resumes from it.")},
      "Used by launcher slurm: srun's allocation and the --emit-sbatch script.");
}

Field env_field() {
  Field env = specs::string_map("env", "Environment variables set on every rank, e.g. {NCCL_DEBUG: WARN}.");
  env.key_check = [](const std::string& name) { return detail::env_name_problem(name); };
  return env;
}

std::string item(const std::string& list, size_t i, const std::string& key) {
  return list + "[" + std::to_string(i) + "]." + key;
}

void check_nodes(const Spec& spec, std::vector<SpecIssue>& issues) {
  std::map<std::string, size_t> first;
  for (size_t i = 0; i < spec.count("nodes"); ++i) {
    const std::string host = item("nodes", i, "host");
    if (spec.has(host)) {
      auto [it, fresh] = first.emplace(spec.get_string(host), i);
      if (!fresh) {
        issues.push_back({spec.location(host), host,
                          "host '" + it->first + "' is listed twice (also nodes[" + std::to_string(it->second) +
                              "]); give it once with all its slots"});
      }
    }
    const std::string slots = item("nodes", i, "slots");
    const std::string gpus = item("nodes", i, "gpus");
    if (!spec.has(gpus)) continue;  // a problem of its own was reported
    const size_t n_gpus = spec.get_int_list(gpus).size();
    if (!spec.has(slots) && n_gpus == 0 && spec.has(item("nodes", i, "host"))) {
      issues.push_back({spec.location(slots), slots, "missing required key (or list the host's gpus)"});
    } else if (spec.has(slots) && n_gpus > 0 && spec.get_int(slots) != static_cast<int64_t>(n_gpus)) {
      issues.push_back({spec.location(slots), slots,
                        "slots is " + std::to_string(spec.get_int(slots)) + " but gpus lists " +
                            std::to_string(n_gpus) + " (each rank gets its own GPU: give one per slot)"});
    }
  }
}

void check_launcher(const Spec& spec, std::vector<SpecIssue>& issues) {
  if (!spec.has("launcher")) return;
  const std::string& launcher = spec.get_string("launcher");
  const size_t nodes = spec.count("nodes");
  if (launcher == "mpirun" && nodes == 0) {
    issues.push_back({spec.location("nodes"), "nodes", "launcher mpirun needs the hosts: list at least one node"});
  } else if (launcher == "local" && nodes > 1) {
    issues.push_back({spec.location("nodes"), "nodes",
                      "launcher local runs on this host only, but " + std::to_string(nodes) +
                          " nodes are listed (use launcher mpirun or slurm)"});
  } else if (launcher == "slurm" && nodes > 0) {
    if (spec.has("slurm.nodes") && spec.get_int("slurm.nodes") > 0 &&
        spec.get_int("slurm.nodes") != static_cast<int64_t>(nodes)) {
      issues.push_back({spec.location("slurm.nodes"), "slurm.nodes",
                        std::to_string(spec.get_int("slurm.nodes")) + " contradicts the " + std::to_string(nodes) +
                            " hosts that nodes lists (leave it 0)"});
    }
    const std::string first = item("nodes", 0, "slots");
    for (size_t i = 1; i < nodes; ++i) {
      const std::string slots = item("nodes", i, "slots");
      if (spec.has(first) && spec.has(slots) && spec.get_int(slots) != spec.get_int(first)) {
        issues.push_back({spec.location(slots), slots,
                          "slurm starts the same number of ranks on every node: nodes[0] has " +
                              std::to_string(spec.get_int(first)) + ", this one " +
                              std::to_string(spec.get_int(slots))});
      }
    }
  }
}

// The warning must come before the time limit, with time left to finish a step and write a checkpoint.
void check_slurm(const Spec& spec, std::vector<SpecIssue>& issues) {
  if (!spec.has("slurm.time") || !spec.has("slurm.grace_seconds")) return;
  const std::string& time = spec.get_string("slurm.time");
  const int64_t grace = spec.get_int("slurm.grace_seconds");
  if (time.empty() || grace == 0 || !detail::slurm_time_problem(time).empty()) return;
  const long limit = detail::slurm_time_seconds(time);
  if (grace >= limit) {
    issues.push_back({spec.location("slurm.grace_seconds"), "slurm.grace_seconds",
                      std::to_string(grace) + " s is not before the time limit slurm.time=" + time + " (" +
                          std::to_string(limit) + " s): the job would be warned before it starts"});
  }
}

int slots_of(const Spec& spec, size_t i) {
  const std::string slots = item("nodes", i, "slots");
  if (spec.has(slots)) return static_cast<int>(spec.get_int(slots));
  return static_cast<int>(spec.get_int_list(item("nodes", i, "gpus")).size());
}

ClusterConfig from_spec(const Spec& spec, const std::string& display_name) {
  ClusterConfig c;
  c.source = display_name;
  c.name = spec.get_string("name");
  if (c.name.empty()) c.name = std::filesystem::path(display_name).stem().string();
  c.launcher = *launcher_from_name(spec.get_string("launcher"));
  for (size_t i = 0; i < spec.count("nodes"); ++i) {
    Node n;
    n.host = spec.get_string(item("nodes", i, "host"));
    n.slots = slots_of(spec, i);
    for (int64_t id : spec.get_int_list(item("nodes", i, "gpus"))) n.gpus.push_back(static_cast<int>(id));
    c.nodes.push_back(std::move(n));
  }
  c.network.interface = spec.get_string("network.interface");
  c.network.master_addr = spec.get_string("network.master_addr");
  c.network.master_port = static_cast<int>(spec.get_int("network.master_port"));
  c.env = spec.get_string_map("env");
  c.mpirun_args = spec.get_string_list("mpirun_args");
  c.slurm.partition = spec.get_string("slurm.partition");
  c.slurm.time = spec.get_string("slurm.time");
  c.slurm.account = spec.get_string("slurm.account");
  c.slurm.nodes = static_cast<int>(spec.get_int("slurm.nodes"));
  c.slurm.ntasks_per_node = static_cast<int>(spec.get_int("slurm.ntasks_per_node"));
  c.slurm.gpus_per_node = static_cast<int>(spec.get_int("slurm.gpus_per_node"));
  c.slurm.sbatch = spec.get_string_list("slurm.sbatch");
  c.slurm.grace_seconds = static_cast<int>(spec.get_int("slurm.grace_seconds"));
  c.slurm.requeue = spec.get_bool("slurm.requeue");
  return c;
}

}  // namespace

const specs::Schema& cluster_schema() {
  static const specs::Schema schema = [] {
    specs::Schema s{
        "cluster",
        {specs::string("name", std::string(), "Job name (Slurm's --job-name). Empty: the file name without .yaml."),
         specs::enumeration("launcher", {"local", "mpirun", "slurm"}, std::string("mpirun"),
                            "How ranks are started: kiln itself on this host, mpirun over ssh, or Slurm's srun."),
         nodes_field(), network_field(), env_field(),
         string_list("mpirun_args",
                     "Extra mpirun options, e.g. [--bind-to, none]; --bind-to and --map-by here "
                     "replace kiln's defaults (--bind-to core --map-by slot).",
                     detail::mpirun_arg_problem),
         slurm_field()}};
    s.check = [](const Spec& spec, std::vector<SpecIssue>& issues) {
      check_nodes(spec, issues);
      check_launcher(spec, issues);
      check_slurm(spec, issues);
    };
    return s;
  }();
  return schema;
}

ClusterConfig load_cluster_config(const std::string& file, const std::vector<std::string>& overrides) {
  return from_spec(specs::load_spec(cluster_schema(), file, overrides), file);
}

ClusterConfig load_cluster_config_text(const std::string& yaml, const std::string& display_name,
                                       const std::vector<std::string>& overrides) {
  return from_spec(specs::load_spec_text(cluster_schema(), yaml, display_name, "", overrides), display_name);
}

ClusterConfig load_cluster(const std::string& file, const std::vector<std::string>& overrides,
                           std::vector<std::string>* notes) {
  const std::string ext = std::filesystem::path(file).extension().string();
  if (ext == ".yaml" || ext == ".yml") return load_cluster_config(file, overrides);
  ClusterConfig config = load_hostfile(file, notes);
  // A hostfile holds hosts only; of the YAML's keys it takes the launcher (--launcher), the way mpirun users pass
  // one next to `mpirun --hostfile`.
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    const std::string key = o.substr(0, eq);
    // Without '=' the name is empty, which names no launcher. (Not `eq == npos ? std::nullopt : …`: GCC 14 then
    // warns, wrongly, that *launcher below may read an uninitialised value.)
    const std::optional<Launcher> launcher = launcher_from_name(eq == std::string::npos ? "" : o.substr(eq + 1));
    if (key != "launcher") throw UsageError(file + " is a hostfile: '" + o + "' needs a cluster YAML (.yaml)");
    if (!launcher) throw UsageError(file + ": '" + o + "': the launcher is one of local, mpirun, slurm");
    if (*launcher == Launcher::kLocal && config.nodes.size() > 1)
      throw UsageError(file + ": launcher local runs on this host only, but the hostfile lists " +
                       std::to_string(config.nodes.size()) + " hosts (use mpirun or slurm)");
    config.launcher = *launcher;
  }
  return config;
}

}  // namespace kiln::cluster
