#include "cli_options.h"

#include <utility>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::launcher::cli {
namespace {

// The options the ranks of a launched job do not get, taking a value (true) or not: the launch options, and -k and
// --log_file, which the launcher handles for the whole job (one warning, one log file with every rank's lines).
// --gpu_index takes a list (strip_gpu_index).
constexpr std::pair<const char*, bool> kLaunchFlags[] = {
    {"--num_processes", true}, {"--gpus", true},     {"-c", true},           {"--cluster", true},
    {"--launcher", true},      {"--include", true},  {"--exclude", true},    {"--emit-sbatch", true},
    {"--dry-run", false},      {"-k", true},         {"--key", true},        {"--log_file", true},
    {"--max_restarts", true}, {"--nnodes", true}};

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
  return cmd.add_option("-e,--experiment_spec_file,--experiment_spec", path, help);
}

CLI::Option* add_results_dir(CLI::App& cmd, std::string& dir, const std::string& help) {
  return cmd.add_option("-r,--results_dir", dir, help);
}

CLI::Option* add_model(CLI::App& cmd, std::string& path, const std::string& help) {
  return cmd.add_option("-m,--model,--model_path", path, help);
}

void allow_overrides(CLI::App& cmd, const std::string& example) {
  cmd.allow_extras();
  cmd.footer("Trailing key.path=value arguments override spec keys (docs/specs.md)" +
             (example.empty() ? std::string(".") : ", e.g. " + example + "."));
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

void add_inference_input(CLI::App& cmd, std::string& input, const std::string& help) {
  CLI::Option* image = cmd.add_option("-i,--image", input, help);
  cmd.add_option("-d,--image_dir", input, "A folder of images (TAO's flag; the same as -i with a folder)")
      ->excludes(image);
}

void require_inference_input(const std::string& input) {
  if (input.empty()) throw UsageError("inference needs its input: -i <image, folder or IDX file> or -d <folder>");
}

void add_convert_options(CLI::App& cmd, ConvertArgs& args, const std::string& spec_help,
                         const std::string& overrides_example) {
  cmd.add_option("-d,--dataset_export_spec", args.spec, spec_help)->required();
  cmd.add_option("-o,--output_dir", args.out_dir, "Output directory for shards and index.json")->required();
  allow_overrides(cmd, overrides_example);
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
  cmd.add_option("--max_restarts", job.max_restarts,
                 "When a rank dies, hangs or fails, relaunch the job (resuming from its latest checkpoint) up to N "
                 "times")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--nnodes", job.nnodes,
                 "MIN:MAX hosts (with -c and --max_restarts): a host whose ranks failed twice, or that does not "
                 "answer, is left out of the next launch while MIN remain");
  cmd.add_flag("--dry-run", job.dry_run,
               "Check, then print the resolved spec and the launch plan; run and write nothing");
}

void add_run_options(CLI::App& cmd, runtime::RunOptions& ro, LaunchFlags& launch,
                     const std::string& overrides_example) {
  cmd.add_option("--num_threads", ro.threads,
                 "Intra-op threads per rank (default: OMP_NUM_THREADS, else SLURM_CPUS_PER_TASK, else cores / local "
                 "ranks)")
      ->check(CLI::NonNegativeNumber);
  add_launch_options(cmd, launch.job);
  cmd.add_option("--gpus", launch.gpus, "GPU ranks to start on this host (one per GPU)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--gpu_index", launch.gpu_index, "CUDA devices of the local ranks, in order (default 0 1 …)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--device", ro.device, "Where ranks compute: auto (CUDA when present) | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd.add_option("--emit-sbatch", launch.job.emit_sbatch,
                 "Write a Slurm batch script for this job and run nothing (with --dry-run: print it)");
  allow_overrides(cmd, overrides_example);
}

void add_use_amp(CLI::App& cmd, std::vector<std::string>& overrides, const std::string& amp_group) {
  const std::string override = amp_group + ".enabled=true";
  cmd.add_flag_callback(
      "--use_amp", [&overrides, override] { overrides.push_back(override); },
      "Automatic mixed precision (same as " + override + "; bf16 on a CPU, fp16 with loss scaling on a GPU)");
}

void add_common_flags(CLI::App& cmd, CommonFlags& flags, bool with_key) {
  if (with_key)
    cmd.add_option("-k,--key", flags.key, "TAO's model encryption key: accepted and ignored (kiln models are not "
                                          "encrypted)");
  cmd.add_option("--log_file", flags.log_file, "Also append every log line to this file (a launcher: every rank's)");
  CLI::Option* verbose = cmd.add_flag("-v,--verbose", flags.verbose, "Also print debug lines");
  cmd.add_flag("-q,--quiet", flags.quiet, "Print only warnings and errors")->excludes(verbose);
}

void apply_common_flags(const CommonFlags& flags) {
  if (flags.verbose) log::set_level(log::Level::kDebug);
  if (flags.quiet) log::set_level(log::Level::kWarn);
  if (!flags.log_file.empty()) log::set_file(flags.log_file);
  if (!flags.key.empty()) log::warn("-k/--key is ignored: kiln model files are not encrypted, no key is needed");
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
