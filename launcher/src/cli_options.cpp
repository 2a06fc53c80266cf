#include "cli_options.h"

#include <utility>

#include "kiln/common/error.h"

namespace kiln::launcher::cli {
namespace {

constexpr const char* kOverridesHelp =
    "Trailing key.path=value arguments override spec keys, e.g. train_config.n_epochs=3 "
    "'model_config.freeze_blocks=[0,1]'.";

// The launch options that take a value (true) or not; --gpu_index takes a list (strip_gpu_index).
constexpr std::pair<const char*, bool> kLaunchFlags[] = {
    {"--num_processes", true}, {"--gpus", true},     {"-c", true},           {"--cluster", true},
    {"--launcher", true},      {"--include", true},  {"--exclude", true},    {"--emit-sbatch", true},
    {"--dry-run", false}};

// args without `--gpu_index i j …` (its values are the integers that follow).
std::vector<std::string> strip_gpu_index(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--gpu_index=", 0) == 0) continue;
    if (args[i] != "--gpu_index") {
      out.push_back(args[i]);
      continue;
    }
    while (i + 1 < args.size() && !args[i + 1].empty() &&
           args[i + 1].find_first_not_of("0123456789,") == std::string::npos)
      ++i;
  }
  return out;
}

}  // namespace

CLI::Option* add_spec_file(CLI::App& cmd, std::string& path, const std::string& help) {
  return cmd.add_option("-e,--experiment_spec_file", path, help);
}

CLI::Option* add_results_dir(CLI::App& cmd, std::string& dir, const std::string& help) {
  return cmd.add_option("-r,--results_dir", dir, help);
}

CLI::Option* add_model(CLI::App& cmd, std::string& path, const std::string& help) {
  return cmd.add_option("-m,--model", path, help);
}

void allow_overrides(CLI::App& cmd) {
  cmd.allow_extras();
  cmd.footer(kOverridesHelp);
}

std::vector<std::string> overrides_of(const CLI::App& cmd) {
  std::vector<std::string> out;
  for (const auto& arg : cmd.remaining()) {
    if (arg.empty() || arg[0] == '-' || arg.find('=') == std::string::npos)
      throw UsageError("unexpected argument '" + arg +
                       "' (options are listed by --help; spec overrides look like key.path=value)");
    out.push_back(arg);
  }
  return out;
}

void add_convert_options(CLI::App& cmd, ConvertArgs& args, const std::string& spec_help) {
  cmd.add_option("-d,--dataset_export_spec", args.spec, spec_help)->required();
  cmd.add_option("-o,--output_dir", args.out_dir, "Output directory for shards and index.json")->required();
  allow_overrides(cmd);
}

void add_launch_options(CLI::App& cmd, JobLaunch& job) {
  cmd.add_option("--num_processes", job.num_processes, "CPU ranks to start on this host (through mpirun)")
      ->check(CLI::Validator(
          [](std::string& v) { return !v.empty() && v.size() <= 9 && v.find_first_not_of("0123456789") == std::string::npos && std::stol(v) >= 1
                                          ? std::string()
                                          : "must be a whole number of ranks, 1 or more (got " + v + ")"; },
          "N>=1"));
  cmd.add_option("-c,--cluster", job.cluster_file, "Cluster YAML or Open MPI/DeepSpeed hostfile (docs/cluster.md)");
  cmd.add_option("--launcher", job.launcher, "How ranks start: local | mpirun | slurm")
      ->check(CLI::IsMember({"local", "mpirun", "slurm"}));
  cmd.add_option("--include", job.include, "Only these hosts/slots of the cluster file (node1,node2 or node1:0,1)");
  cmd.add_option("--exclude", job.exclude, "All hosts/slots of the cluster file but these");
  cmd.add_flag("--dry-run", job.dry_run, "Print the launch command (mpirun/srun) and run nothing");
}

void add_run_options(CLI::App& cmd, runtime::RunOptions& ro, LaunchFlags& launch) {
  cmd.add_option("--num_threads", ro.threads, "Intra-op threads per rank (default: cores / local ranks)")
      ->check(CLI::NonNegativeNumber);
  add_launch_options(cmd, launch.job);
  cmd.add_option("--gpus", launch.gpus, "GPU ranks to start on this host (one per GPU)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--gpu_index", launch.gpu_index, "CUDA devices of the local ranks, in order (default 0 1 …)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--device", ro.device, "Where ranks compute: auto (CUDA when present) | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd.add_option("--emit-sbatch", launch.job.emit_sbatch, "Write a Slurm batch script for this job and run nothing");
  allow_overrides(cmd);
}

std::vector<std::string> without_launch_options(const std::vector<std::string>& args) {
  std::vector<std::string> out = args;
  for (const auto& [flag, takes_value] : kLaunchFlags) out = strip_option(out, flag, takes_value);
  return strip_gpu_index(out);
}

std::string tao_short_option(const std::string& arg) {
  static const std::pair<const char*, const char*> kTao[] = {{"-pth", "--pruning_threshold"},
                                                             {"-nf", "--min_num_filters"},
                                                             {"-pg", "--pruning_granularity"},
                                                             {"-eq", "--equalization_criterion"},
                                                             {"-el", "--excluded_layers"}};
  for (const auto& [tao, long_name] : kTao) {
    const std::string t(tao);
    if (arg == t) return long_name;
    if (arg.rfind(t + "=", 0) == 0) return long_name + arg.substr(t.size());
  }
  return arg;
}

}  // namespace kiln::launcher::cli
