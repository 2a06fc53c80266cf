#include "kiln/launcher/cli.h"

#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "kiln/cluster/cluster_config.h"
#include "kiln/cluster/rank_env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/launcher/info.h"
#include "kiln/launcher/launch.h"
#include "kiln/runtime/tasks.h"

namespace kiln::launcher {
namespace {

constexpr const char* kOverridesHelp =
    "Trailing key.path=value arguments override spec keys, e.g. train_config.n_epochs=3 "
    "'model_config.freeze_blocks=[0,1]'.";

// Extra positional arguments are spec overrides; anything else left over is a usage error.
std::vector<std::string> overrides_of(const CLI::App& cmd) {
  std::vector<std::string> out;
  for (const auto& arg : cmd.remaining()) {
    if (arg.empty() || arg[0] == '-' || arg.find('=') == std::string::npos)
      throw UsageError("unexpected argument '" + arg + "' (options are listed by --help; spec overrides look like key.path=value)");
    out.push_back(arg);
  }
  return out;
}

// Launch options: they decide how ranks start and are removed from the command every rank runs.
struct LaunchFlags {
  JobLaunch job;
  int gpus = 0;
};
constexpr std::pair<const char*, bool> kLaunchFlags[] = {
    {"--num_processes", true}, {"--gpus", true},     {"-c", true},           {"--cluster", true},
    {"--launcher", true},      {"--include", true},  {"--exclude", true},    {"--emit-sbatch", true},
    {"--dry-run", false}};

// The options that decide where ranks run (train, evaluate and cluster check share them).
void add_launch_options(CLI::App* cmd, JobLaunch& job) {
  cmd->add_option("--num_processes", job.num_processes, "CPU ranks to start on this host (through mpirun)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-c,--cluster", job.cluster_file, "Cluster YAML or Open MPI/DeepSpeed hostfile (docs/cluster.md)");
  cmd->add_option("--launcher", job.launcher, "How ranks start: local | mpirun | slurm")
      ->check(CLI::IsMember({"local", "mpirun", "slurm"}));
  cmd->add_option("--include", job.include, "Only these hosts/slots of the cluster file (node1,node2 or node1:0,1)");
  cmd->add_option("--exclude", job.exclude, "All hosts/slots of the cluster file but these");
  cmd->add_flag("--dry-run", job.dry_run, "Print the launch command (mpirun/srun) and run nothing");
}

void add_run_options(CLI::App* cmd, runtime::RunOptions& ro, LaunchFlags& lo) {
  cmd->add_option("--num_threads", ro.threads, "Intra-op threads per rank (default: cores / local ranks)")
      ->check(CLI::NonNegativeNumber);
  add_launch_options(cmd, lo.job);
  cmd->add_option("--gpus", lo.gpus, "GPU ranks to start on this host (one per GPU)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--emit-sbatch", lo.job.emit_sbatch, "Write a Slurm batch script for this job and run nothing");
  cmd->allow_extras();
  cmd->footer(kOverridesHelp);
}

// This process is the launcher: the same command line, minus the launch options, becomes every rank's.
int launch_ranks(JobLaunch job, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& [flag, takes_value] : kLaunchFlags) args = strip_option(args, flag, takes_value);
  job.worker_args = args;
  const int code = launch_job(job);
  if (code != 0) log::error("the job failed (exit code " + std::to_string(code) + ")");
  return code;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"kiln: train, evaluate and ship vision models from one binary, on one CPU or many ranks.", "kiln"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);

  bool verbose = false;
  auto* info = app.add_subcommand("info", "Versions of kiln, LibTorch, MPI, CUDA/NCCL; devices; networks and subtasks");
  info->add_flag("-v,--verbose", verbose, "Also threads and build details");

  auto* cls = app.add_subcommand("classification", "Image classification (arch: lenet5, resnet 10/18/34)");
  cls->require_subcommand(1);

  runtime::RunOptions ro;
  auto* train = cls->add_subcommand("train", "Train (or resume) a classifier from an experiment spec");
  train->add_option("-e,--experiment_spec_file", ro.spec_file, "Experiment spec (YAML)")->required();
  train->add_option("-r,--results_dir", ro.results_dir, "Results directory (checkpoints, logs, status.json)")->required();
  train->add_option("-m,--model", ro.model_path, "Pretrained model (.kiln) to start from (overrides pretrained_model_path)");
  train->add_flag("--enable_determinism", ro.deterministic, "Deterministic algorithms (bit-identical reruns)");
  LaunchFlags launch;
  add_run_options(train, ro, launch);

  auto* evaluate = cls->add_subcommand("evaluate", "Evaluate a model: top-1/top-k, per-class accuracy, confusion matrix");
  evaluate->add_option("-e,--experiment_spec_file", ro.spec_file, "Experiment spec (YAML): data and eval_config")->required();
  evaluate->add_option("-m,--model", ro.model_path, "Model file (.kiln) to evaluate")->required();
  evaluate->add_option("-r,--results_dir", ro.results_dir, "Where evaluation/ and status.json go (default: the model's directory)");
  add_run_options(evaluate, ro, launch);

  std::string convert_spec, out_dir;
  auto* convert = cls->add_subcommand("dataset_convert", "Convert IDX or image folders into checksummed kiln shards");
  convert->add_option("-d,--dataset_export_spec", convert_spec, "Conversion spec (YAML)")->required();
  convert->add_option("-o,--output_dir", out_dir, "Output directory for shards and index.json")->required();
  convert->allow_extras();
  convert->footer(kOverridesHelp);

  auto* cluster_cmd = app.add_subcommand("cluster", "Cluster tools");
  auto* check = cluster_cmd->add_subcommand("check", "Preflight: every rank reachable, placement, all-reduce bandwidth");
  JobLaunch check_job;
  add_launch_options(check, check_job);
  cluster_cmd->require_subcommand(1);

  int code = 0;
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      app.exit(e);
      throw UsageError("bad command line (see --help)");
    }
    install_interrupt_handlers();
    if (*info) {
      std::cout << info_text(verbose);
    } else if (*train || *evaluate) {
      auto* cmd = *train ? train : evaluate;
      ro.overrides = overrides_of(*cmd);
      ro.rank = cluster::discover_rank();
      if (launch.gpus > 0 && cuda_device_count() == 0)
        throw UsageError("--gpus " + std::to_string(launch.gpus) +
                         " needs CUDA devices and this host has none; for CPU ranks use --num_processes " +
                         std::to_string(launch.gpus));
      if (launch.gpus > 0) throw UsageError("GPU ranks (--gpus) are not supported by this build yet");
      if (wants_launch(launch.job) && !ro.rank.distributed()) {
        runtime::check_experiment_spec(ro);  // a bad spec is exit 2 before any rank starts
        launch.job.results_dir = ro.results_dir;
        code = launch_ranks(launch.job, argc, argv);
      } else if (*train) {
        runtime::run_train(ro);
      } else {
        runtime::run_evaluate(ro);
      }
    } else if (*check) {
      const auto rank = cluster::discover_rank();
      if (wants_launch(check_job) && !rank.distributed()) {
        std::cout << cluster::placement_table(job_cluster(check_job)) << std::flush;
        code = launch_ranks(check_job, argc, argv);
      } else {
        runtime::run_cluster_check(rank);
      }
    } else if (*convert) {
      runtime::run_dataset_convert(convert_spec, overrides_of(*convert), out_dir);
    }
  } catch (const Error& e) {
    log::error(e.what());
    code = static_cast<int>(e.code());
  } catch (const c10::Error& e) {
    log::error(std::string("LibTorch: ") + e.what_without_backtrace());
    code = static_cast<int>(ExitCode::kFailure);
  } catch (const std::exception& e) {
    log::error(e.what());
    code = static_cast<int>(ExitCode::kFailure);
  }
  std::cout << "Execution status: " << (code == 0 ? "PASS" : "FAIL") << std::endl;
  return code;
}

}  // namespace kiln::launcher
