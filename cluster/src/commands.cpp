// mpirun / srun command lines and the sbatch script, built from a ClusterConfig. Nothing here runs anything.
#include "kiln/cluster/commands.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cctype>
#include <set>
#include <sstream>

#include "cluster_config_rules.h"
#include "kiln/common/env_knobs.h"

namespace kiln::cluster {
namespace {

using Args = std::vector<std::string>;

void append(Args& to, const Args& more) { to.insert(to.end(), more.begin(), more.end()); }

std::string where(const ClusterConfig& config) { return config.source.empty() ? "" : config.source + ": "; }

std::string option(const std::string& arg) { return arg.substr(0, arg.find('=')); }

bool has_option(const Args& args, const std::set<std::string>& names) {
  return std::any_of(args.begin(), args.end(), [&](const std::string& a) { return names.count(option(a)) > 0; });
}

// Options that decide where ranks go (and so their order), or how they are bound, in Open MPI 4.
const std::set<std::string> kMapping{"--map-by", "-map-by",   "--rank-by",  "-rank-by",     "--bynode",   "-bynode",
                                     "--byslot", "-byslot",   "--npernode", "-npernode",    "-N",         "--ppr",
                                     "-ppr",     "--pernode", "-pernode",   "--npersocket", "-npersocket"};
const std::set<std::string> kBinding{"--bind-to",     "-bind-to",         "--bind-to-core",
                                     "-bind-to-core", "--bind-to-socket", "-bind-to-socket"};

// The variables every rank gets: kiln's, then the cluster's (which win), and the interface for NCCL and Gloo.
std::map<std::string, std::string> rank_env(const ClusterConfig& config, const LaunchOptions& options) {
  std::map<std::string, std::string> env = options.env;
  for (const auto& [name, value] : config.env) env[name] = value;
  if (!config.network.interface.empty()) {
    env.emplace("NCCL_SOCKET_IFNAME", config.network.interface);
    env.emplace("GLOO_SOCKET_IFNAME", config.network.interface);
  }
  for (const auto& [name, value] : env) {
    if (std::string p = detail::env_name_problem(name, true); !p.empty()) throw UsageError(where(config) + p);
  }
  return env;
}

// Names passed by name only: those not already given a value.
Args forwarded(const LaunchOptions& options, const std::map<std::string, std::string>& env) {
  Args names;
  for (const std::string& name : options.forward_env) {
    if (std::string p = detail::env_name_problem(name, true); !p.empty()) throw UsageError(p);
    if (!env.count(name) && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

// "0,1,2,3,4,5,6,7" when some node lists GPUs other than 0..slots-1; "" when local rank i → device i holds.
std::string rank_gpus(const ClusterConfig& config) {
  bool needed = false;
  std::string list;
  for (const Node& node : config.nodes) {
    for (int local = 0; local < node.slots; ++local) {
      const int gpu = static_cast<size_t>(local) < node.gpus.size() ? node.gpus[static_cast<size_t>(local)] : local;
      needed = needed || gpu != local;
      list += (list.empty() ? "" : ",") + std::to_string(gpu);
    }
  }
  return needed ? list : "";
}

void check_program(const LaunchOptions& options) {
  if (options.program.empty()) throw Error("launch command built without a program to run");
}

// "key=value" for #SBATCH lines: sbatch reads quotes and backslashes there, and '#' starts a comment.
std::string sbatch_word(const std::string& word) {
  const bool plain = std::none_of(word.begin(), word.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '\\' || c == '#';
  });
  if (plain) return word;
  std::string quoted = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// `export_env`: the variables go in --export (srun run by kiln) rather than in the script's `export` lines.
Args srun_argv(const ClusterConfig& config, const LaunchOptions& options, bool in_allocation, bool export_env) {
  check_program(options);
  const detail::SlurmShape shape = detail::slurm_shape(config);
  std::map<std::string, std::string> env = rank_env(config, options);
  // Open MPI reads MCA parameters from the environment when srun starts the ranks.
  if (!config.network.interface.empty()) env.emplace("OMPI_MCA_btl_tcp_if_include", config.network.interface);
  Args prefix;  // values with a comma cannot go in --export, which splits at commas
  std::string exports = "ALL";
  if (export_env) {
    for (const auto& [name, value] : env) {
      if (value.find(',') != std::string::npos) {
        if (prefix.empty()) prefix.push_back("env");
        prefix.push_back(name + "=" + value);
      } else {
        exports += "," + name + "=" + value;
      }
    }
    for (const std::string& name : forwarded(options, env)) exports += "," + name;
  }
  Args a = prefix;
  a.push_back(options.srun);
  if (!in_allocation) {
    a.push_back("--job-name=" + config.name);
    if (!config.slurm.partition.empty()) a.push_back("--partition=" + config.slurm.partition);
    if (!config.slurm.time.empty()) a.push_back("--time=" + config.slurm.time);
    if (!config.slurm.account.empty()) a.push_back("--account=" + config.slurm.account);
  }
  append(a, {"--nodes=" + std::to_string(shape.nodes), "--ntasks=" + std::to_string(shape.nodes * shape.tasks_per_node),
             "--ntasks-per-node=" + std::to_string(shape.tasks_per_node)});
  std::string nodelist;
  for (const Node& n : config.nodes) nodelist += (nodelist.empty() ? "" : ",") + n.host;
  if (!nodelist.empty()) a.push_back("--nodelist=" + nodelist);
  if (shape.gpus_per_node > 0) a.push_back("--gpus-per-node=" + std::to_string(shape.gpus_per_node));
  append(a, {"--mpi=pmix", "--kill-on-bad-exit=1", "--export=" + exports});
  append(a, options.program);
  return a;
}

}  // namespace

std::string shell_quote(const std::string& word) {
  const bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("_@%+=:,./-").find(c) != std::string::npos;
  });
  if (safe) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string shell_join(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& w : words) line += (line.empty() ? "" : " ") + shell_quote(w);
  return line;
}

std::string Command::str() const { return shell_join(argv); }

Command mpirun_command(const ClusterConfig& config, const LaunchOptions& options) {
  check_program(options);
  if (config.nodes.empty()) throw UsageError(where(config) + "mpirun needs the hosts: list at least one node");
  Args a{options.mpirun, "-np", std::to_string(config.world_size())};
  if (options.hostfile.empty()) {
    std::string hosts;
    for (const Node& n : config.nodes) hosts += (hosts.empty() ? "" : ",") + n.host + ":" + std::to_string(n.slots);
    append(a, {"--host", hosts});
  } else {
    append(a, {"--hostfile", options.hostfile});
  }
  const bool user_maps = has_option(config.mpirun_args, kMapping);
  // Binding oversubscribed ranks to cores would stack several on one core (Open MPI refuses it anyway).
  if (!has_option(config.mpirun_args, kBinding)) append(a, {"--bind-to", options.oversubscribe ? "none" : "core"});
  if (!user_maps) append(a, {"--map-by", "slot"});
  if (!config.network.interface.empty()) append(a, {"--mca", "btl_tcp_if_include", config.network.interface});
  std::map<std::string, std::string> env = rank_env(config, options);
  if (std::string gpus = rank_gpus(config); !gpus.empty()) {
    if (user_maps) {
      throw UsageError(where(config) + "nodes give GPU ids by local rank in kiln's rank order, which a mapping " +
                       "option in mpirun_args changes: drop it, or the gpus lists");
    }
    env[knob::kRankGpus.name] = gpus;  // the device of every rank in rank order (gpu_for_rank reads it)
  }
  for (const auto& [name, value] : env) append(a, {"-x", name + "=" + value});
  for (const std::string& name : forwarded(options, env)) append(a, {"-x", name});
  if (options.as_root.value_or(::geteuid() == 0)) a.push_back("--allow-run-as-root");
  if (options.oversubscribe) a.push_back("--oversubscribe");
  append(a, config.mpirun_args);
  append(a, options.program);
  return Command{a};
}

Command srun_command(const ClusterConfig& config, const LaunchOptions& options) {
  return Command{srun_argv(config, options, options.in_allocation, true)};
}

namespace {

// The batch script's last lines: srun in the background, so that the script can take Slurm's signals. USR1 (the
// warning before the time limit, sent to this script only: --signal=B:) goes on to the ranks, which stop at a step
// they agree on with a checkpoint and exit 138; the script then requeues the job. TERM (scancel, preemption) goes on
// to the ranks too, and the script waits for them: a batch script that ended early would take the ranks, and a
// checkpoint being written, with it. `wait` returns early whenever a trap runs, hence the loop (docs/slurm.md).
std::string srun_with_signals(const std::string& srun, const Slurm& slurm) {
  const std::string stopped = std::to_string(128 + SIGUSR1);
  std::ostringstream s;
  s << "kiln_warned=0\n"
    << "trap 'kiln_caught=1; kiln_warned=1; kill -USR1 \"$kiln_srun\" 2>/dev/null' USR1\n"
    << "trap 'kiln_caught=1; kill -TERM \"$kiln_srun\" 2>/dev/null' TERM\n"
    << srun << " &\n"
    << "kiln_srun=$! kiln_status=-1\n"
    << "while :; do\n"
    << "  kiln_caught=0\n"
    << "  wait \"$kiln_srun\"; kiln_wait=$?\n"
    << "  [ \"$kiln_wait\" = 127 ] && [ \"$kiln_status\" != -1 ] && break  # srun's status was already in hand\n"
    << "  kiln_status=$kiln_wait\n"
    << "  [ \"$kiln_caught\" = 0 ] && break\n"
    << "done\n";
  if (slurm.requeue && slurm.grace_seconds > 0) {
    s << "if [ \"$kiln_warned\" = 1 ] && [ \"$kiln_status\" = " << stopped << " ]; then\n"
      << "  echo \"kiln: job $SLURM_JOB_ID stopped at a checkpoint before its time limit; requeueing it\"\n"
      << "  scontrol requeue \"$SLURM_JOB_ID\"\n"
      << "fi\n";
  }
  s << "exit \"$kiln_status\"\n";
  return s.str();
}

}  // namespace

std::string sbatch_script(const ClusterConfig& config, const LaunchOptions& options) {
  const detail::SlurmShape shape = detail::slurm_shape(config);
  Args sbatch{"--job-name=" + config.name, "--nodes=" + std::to_string(shape.nodes),
              "--ntasks-per-node=" + std::to_string(shape.tasks_per_node)};
  std::string nodelist;
  for (const Node& n : config.nodes) nodelist += (nodelist.empty() ? "" : ",") + n.host;
  if (!nodelist.empty()) sbatch.push_back("--nodelist=" + nodelist);
  if (shape.gpus_per_node > 0) sbatch.push_back("--gpus-per-node=" + std::to_string(shape.gpus_per_node));
  if (options.cpus_per_task > 0) sbatch.push_back("--cpus-per-task=" + std::to_string(options.cpus_per_task));
  if (!config.slurm.partition.empty()) sbatch.push_back("--partition=" + config.slurm.partition);
  if (!config.slurm.time.empty()) sbatch.push_back("--time=" + config.slurm.time);
  if (!config.slurm.account.empty()) sbatch.push_back("--account=" + config.slurm.account);
  // Relative paths in the kiln command (spec, results) then mean what they meant where kiln wrote the script.
  if (!options.workdir.empty()) sbatch.push_back("--chdir=" + options.workdir);
  std::string log_dir = options.log_dir;  // '%' is a pattern character in sbatch file names
  for (size_t pos = 0; (pos = log_dir.find('%', pos)) != std::string::npos; pos += 2) log_dir.insert(pos, "%");
  sbatch.push_back("--output=" + (log_dir.empty() ? "" : log_dir + "/") + "slurm-%j.out");
  sbatch.push_back("--open-mode=append");  // a requeued job keeps its number: its runs share one output file
  if (config.slurm.grace_seconds > 0) sbatch.push_back("--signal=B:USR1@" + std::to_string(config.slurm.grace_seconds));
  if (config.slurm.requeue) sbatch.push_back("--requeue");

  std::ostringstream script;
  script << "#!/bin/bash\n";
  for (const std::string& line : sbatch) script << "#SBATCH " << sbatch_word(line) << "\n";
  for (const std::string& line : config.slurm.sbatch) script << "#SBATCH " << sbatch_word(line) << "\n";
  script << "# Written by kiln" << (config.source.empty() ? "" : " from " + config.source)
         << ". Submit it with: sbatch <this file>\n";
  std::map<std::string, std::string> env = rank_env(config, options);
  if (!config.network.interface.empty()) env.emplace("OMPI_MCA_btl_tcp_if_include", config.network.interface);
  for (const std::string& name : forwarded(options, env)) {
    script << ": \"${" << name << ":?must be set where sbatch runs}\"\n";
  }
  for (const auto& [name, value] : env) script << "export " << name << "=" << shell_quote(value) << "\n";
  // OpenBLAS and OpenMP size their pools from these: the CPUs of each task on the node the job runs on, never the
  // cores of the host that wrote the script. srun passes --cpus-per-task on only through SRUN_CPUS_PER_TASK since
  // Slurm 22.05.
  if (!env.count("OMP_NUM_THREADS")) script << "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n";
  if (!env.count("OPENBLAS_NUM_THREADS")) script << "export OPENBLAS_NUM_THREADS=$OMP_NUM_THREADS\n";
  script << "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK; fi\n";
  script << srun_with_signals(shell_join(srun_argv(config, options, true, false)), config.slurm);
  return script.str();
}

std::string hostfile_text(const ClusterConfig& config) {
  std::string text;
  for (const Node& n : config.nodes) text += n.host + " slots=" + std::to_string(n.slots) + "\n";
  return text;
}

}  // namespace kiln::cluster
