#include "kiln/launcher/cli.h"

#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <iostream>
#include <cstdlib>

#include "kiln/cluster/cluster_config.h"
#include "kiln/cluster/rank_env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/launcher/info.h"
#include "kiln/launcher/launch.h"
#include "kiln/detection/synth.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/export_task.h"
#include "kiln/runtime/inference.h"
#include "kiln/runtime/prune.h"
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
  std::vector<int> gpu_index;
};
constexpr std::pair<const char*, bool> kLaunchFlags[] = {
    {"--num_processes", true}, {"--gpus", true},     {"-c", true},           {"--cluster", true},
    {"--launcher", true},      {"--include", true},  {"--exclude", true},    {"--emit-sbatch", true},
    {"--dry-run", false}};

// argv without `--gpu_index i j …` (its values are the integers that follow).
std::vector<std::string> strip_gpu_index(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].rfind("--gpu_index=", 0) == 0) continue;
    if (argv[i] != "--gpu_index") {
      out.push_back(argv[i]);
      continue;
    }
    while (i + 1 < argv.size() && !argv[i + 1].empty() &&
           argv[i + 1].find_first_not_of("0123456789,") == std::string::npos)
      ++i;
  }
  return out;
}

// --gpus N / --gpu_index: N GPU ranks on this host, local rank k on device gpu_index[k] (default k). One GPU runs in
// this process; more are started like --num_processes, with KILN_DEVICE=cuda. CPU ranks get KILN_DEVICE=cpu.
void apply_gpu_flags(LaunchFlags& lo, runtime::RunOptions& ro) {
  if (lo.gpus == 0 && lo.gpu_index.empty()) {
    if (lo.job.num_processes > 1) lo.job.env["KILN_DEVICE"] = "cpu";
    return;
  }
  if (lo.gpus == 0) lo.gpus = static_cast<int>(lo.gpu_index.size());
  const int devices = cuda_device_count();
  if (devices == 0)
    throw UsageError("--gpus " + std::to_string(lo.gpus) +
                     " needs CUDA devices and this host has none; for CPU ranks use --num_processes " +
                     std::to_string(lo.gpus));
  if (lo.job.num_processes > 1) throw UsageError("--gpus and --num_processes both set the ranks on this host: use one");
  if (!lo.gpu_index.empty() && static_cast<int>(lo.gpu_index.size()) < lo.gpus)
    throw UsageError(log::cat("--gpus ", lo.gpus, " needs ", lo.gpus, " entries in --gpu_index, got ", lo.gpu_index.size()));
  std::string list;
  for (int k = 0; k < lo.gpus; ++k) {
    const int gpu = lo.gpu_index.empty() ? k : lo.gpu_index[static_cast<size_t>(k)];
    if (gpu >= devices)
      throw UsageError(log::cat("GPU ", gpu, " does not exist: this host has ", devices, " CUDA device(s)"));
    list += (list.empty() ? "" : ",") + std::to_string(gpu);
  }
  if (!ro.device.empty() && ro.device != "cuda")
    throw UsageError("--gpus asks for GPU ranks but --device is " + ro.device);
  ro.device = "cuda";
  lo.job.num_processes = lo.gpus;
  lo.job.env["KILN_DEVICE"] = "cuda";
  lo.job.env["KILN_GPU_INDEX"] = list;
  if (lo.gpus == 1) ::setenv("KILN_GPU_INDEX", list.c_str(), 1);  // this process is the rank
}

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
  cmd->add_option("--gpu_index", lo.gpu_index, "CUDA devices of the local ranks, in order (default 0 1 …)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", ro.device, "Where ranks compute: auto (CUDA when present) | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--emit-sbatch", lo.job.emit_sbatch, "Write a Slurm batch script for this job and run nothing");
  cmd->allow_extras();
  cmd->footer(kOverridesHelp);
}

// TAO's multi-letter single-dash options, as CLI11 long options ("-pth=0.2" keeps its value).
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

// This process is the launcher: the same command line, minus the launch options, becomes every rank's.
int launch_ranks(JobLaunch job, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& [flag, takes_value] : kLaunchFlags) args = strip_option(args, flag, takes_value);
  args = strip_gpu_index(args);
  job.worker_args = args;
  const int code = launch_job(job);
  if (code != 0) log::error("the job failed (exit code " + std::to_string(code) + ")");
  return code;
}

// `prune` with TAO's options, under `classification` and `detectnet_v2` (the pruner reads any network's graph).
CLI::App* add_prune_command(CLI::App* parent, runtime::PruneTaskOptions& po) {
  auto* prune = parent->add_subcommand("prune", "Prune filters by L2 norm; the result retrains with train -m");
  prune->add_option("-m,--model", po.model_path, "Model file (.kiln) to prune")->required();
  prune->add_option("-o,--output_file", po.output_path, "The pruned model file (.kiln)")->required();
  prune->add_option("-r,--results_dir", po.results_dir, "Where status.json goes (default: the output's directory)");
  prune->add_option("--pruning_threshold", po.prune.threshold, "-pth: keep filters whose normalised norm is above this")
      ->capture_default_str();
  prune->add_option("--min_num_filters", po.prune.min_num_filters, "-nf: at least this many filters per layer")
      ->capture_default_str();
  prune->add_option("--pruning_granularity", po.prune.granularity, "-pg: kept filters are a multiple of this")
      ->capture_default_str();
  prune->add_option("-n,--normalizer", po.prune.normalizer, "max | L2: how a layer's filter norms are normalised")
      ->capture_default_str();
  prune->add_option("--equalization_criterion", po.prune.equalization,
                    "-eq: layers tied by residual adds keep channels by union | intersection | arithmetic_mean | "
                    "geometric_mean")
      ->capture_default_str();
  prune->add_option("--excluded_layers", po.prune.excluded, "-el: layers (or channel keys) left whole, comma-separated")
      ->delimiter(',');
  prune->footer("TAO's short forms work too: -pth 0.1 -nf 16 -pg 8 -eq union -el conv1,fc1");
  return prune;
}

// `export` with TAO's options, under `classification` and `detectnet_v2` (run_export takes the network from the model
// file; ExportTaskOptions::network, set from the command, must match it).
CLI::App* add_export_command(CLI::App* parent, runtime::ExportTaskOptions& eo, bool& no_verify) {
  auto* exp = parent->add_subcommand("export", "Export ONNX (fp32 | fp16 | int8 QDQ + TensorRT calibration cache)");
  exp->add_option("-m,--model", eo.run.model_path, "Model file (.kiln) to export")->required();
  exp->add_option("-o,--output_file", eo.output_path, "The ONNX file to write")->required();
  exp->add_option("-e,--experiment_spec_file", eo.run.spec_file,
                  "Spec for calibration/evaluation data and normalisation (default: the one stored in the model)");
  exp->add_option("-r,--results_dir", eo.results_dir, "Where status.json goes (default: the output's directory)");
  exp->add_option("--target_opset", eo.opset, "ONNX opset (12-17; int8 needs 13+)")->capture_default_str();
  exp->add_option("--data_type", eo.data_type, "fp32 | fp16 | int8")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))->capture_default_str();
  exp->add_option("--batch_size", eo.batch_size, "INT8 calibration: images per batch")->capture_default_str();
  exp->add_option("--batches", eo.batches, "INT8 calibration: number of batches")->capture_default_str();
  exp->add_option("--cal_cache_file", eo.cal_cache_file, "INT8 calibration cache (default: cal.bin beside -o)");
  exp->add_option("--cal_method", eo.cal_method, "INT8 ranges: percentile (of |x|, default) | entropy (TensorRT's EntropyCalibration2 search) | max")
      ->capture_default_str();
  exp->add_option("--percentile", eo.percentile, "--cal_method percentile: the percentile of |x|")->capture_default_str();
  exp->add_option("--eval_images", eo.eval_images,
                  "INT8: accuracy (detectnet_v2: coverage agreement) on this many evaluation images (0 = all)")
      ->capture_default_str();
  exp->add_flag("--gen_ds_config", eo.gen_ds_config, "Also write labels.txt and a DeepStream nvinfer_config.txt");
  exp->add_flag("--no_verify", no_verify, "Skip running the exported model in onnxruntime");
  exp->add_option("--num_threads", eo.run.threads, "Intra-op threads (default: all cores)")->check(CLI::NonNegativeNumber);
  exp->allow_extras();
  exp->footer(kOverridesHelp);
  return exp;
}

// A launchable subtask: its overrides and rank are filled in; the launcher process checks what it can (`check`,
// exit 2/3 before any rank starts) and starts the ranks, a rank (or a single process) runs `run`.
int launch_or_run(const CLI::App& cmd, runtime::RunOptions& ro, LaunchFlags& launch, const std::string& results_dir,
                  int argc, char** argv, const std::function<void()>& check, const std::function<void()>& run) {
  ro.overrides = overrides_of(cmd);
  ro.rank = cluster::discover_rank();
  if (!ro.rank.distributed()) apply_gpu_flags(launch, ro);
  if (wants_launch(launch.job) && !ro.rank.distributed()) {
    check();
    launch.job.results_dir = results_dir;
    return launch_ranks(launch.job, argc, argv);
  }
  run();
  return 0;
}

// `kiln dataset synth_kitti`: synthetic KITTI detection data (docs/synth_kitti.md).
struct SynthCommand {
  CLI::App* cmd = nullptr;
  detection::SynthOptions options;
  std::string size = "160x160";
};

void add_dataset_commands(CLI::App& app, SynthCommand& synth) {
  auto* dataset = app.add_subcommand("dataset", "Dataset tools");
  dataset->require_subcommand(1);
  auto* cmd = dataset->add_subcommand(
      "synth_kitti", "Synthetic KITTI detection data: Fashion-MNIST items on textured backgrounds (PNG + labels)");
  auto& o = synth.options;
  cmd->add_option("-o,--output_dir", o.output_dir, "Output directory (new or empty): train/, val/, summary.json")
      ->required();
  cmd->add_option("--images", o.images, "Scenes in all (train + val)")->required();
  cmd->add_option("--seed", o.seed, "Random seed: the same seed writes the same bytes")->required();
  cmd->add_option("--size", synth.size, "Image size WIDTHxHEIGHT")->capture_default_str();
  cmd->add_option("--min-objects", o.min_objects, "Objects per scene, at least")->capture_default_str();
  cmd->add_option("--max-objects", o.max_objects, "Objects per scene, at most")->capture_default_str();
  cmd->add_option("--val-fraction", o.val_fraction, "Fraction of the scenes in val/ (items from the test set)")
      ->capture_default_str();
  cmd->add_option("--source-dir", o.source_dir, "Fashion-MNIST IDX files (train-* and t10k-*)")->capture_default_str();
  synth.cmd = cmd;
}

void run_synth_kitti(SynthCommand& synth) {
  const auto size = detection::parse_image_size(synth.size);
  synth.options.width = size[0];
  synth.options.height = size[1];
  const auto summary = detection::generate_synth_kitti(synth.options);
  std::cout << detection::format_synth_summary(summary);
  log::info(log::cat("synth_kitti: wrote ", synth.options.images, " scenes to ", summary.output_dir, " in ",
                     static_cast<int>(summary.seconds * 10) / 10.0, " s"));
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"kiln: train, evaluate and ship vision models from one binary, on one CPU or many ranks.", "kiln"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);

  bool verbose = false;
  auto* info = app.add_subcommand("info", "Versions of kiln, LibTorch, MPI, CUDA/NCCL; devices; networks and subtasks");
  info->add_flag("-v,--verbose", verbose, "Also threads and build details");

  auto* cls = app.add_subcommand("classification", "Image classification (arch: lenet5, resnet 10/18/34, mobilenet_v2)");
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

  // DetectNet_v2: the grid detector (docs/detection.md). Its subtasks join as they are built.
  auto* det = app.add_subcommand("detectnet_v2", "Object detection (DetectNet_v2: ResNet backbone, coverage + bbox heads)");
  det->require_subcommand(1);
  runtime::RunOptions dro;
  LaunchFlags det_launch;
  auto* det_train = det->add_subcommand("train", "Train (or resume) a DetectNet_v2 detector from an experiment spec");
  det_train->add_option("-e,--experiment_spec_file", dro.spec_file, "Experiment spec (YAML)")->required();
  det_train->add_option("-r,--results_dir", dro.results_dir, "Results directory (checkpoints, logs, status.json)")
      ->required();
  det_train->add_option("-m,--model", dro.model_path, "Pretrained model (.kiln) to start from");
  add_run_options(det_train, dro, det_launch);
  auto* det_eval = det->add_subcommand("evaluate", "AP per class and mAP on the validation data");
  det_eval->add_option("-e,--experiment_spec_file", dro.spec_file, "Experiment spec (YAML)")->required();
  det_eval->add_option("-m,--model", dro.model_path, "Model file (.kiln) to evaluate")->required();
  det_eval->add_option("-r,--results_dir", dro.results_dir, "Where evaluation/ goes (default: the model's directory)");
  add_run_options(det_eval, dro, det_launch);
  runtime::DetectnetInferenceOptions dio;
  LaunchFlags det_infer_launch;
  auto* det_infer = det->add_subcommand("inference", "Detect objects: KITTI labels with confidences, drawn boxes");
  det_infer->add_option("-e,--experiment_spec_file", dio.run.spec_file, "Experiment spec (YAML)")->required();
  det_infer->add_option("-m,--model", dio.run.model_path, "Model file (.kiln)")->required();
  det_infer->add_option("-i,--image_dir", dio.input, "An image file or a folder of PNG/JPEG files")->required();
  det_infer->add_option("-o,--results_dir", dio.output_dir, "Where labels/ and images/ go")->required();
  det_infer->add_option("--batch_size", dio.batch_size, "Images per forward pass and rank")
      ->check(CLI::NonNegativeNumber);
  add_run_options(det_infer, dio.run, det_infer_launch);
  std::string det_convert_spec, det_out_dir;
  auto* det_convert = det->add_subcommand("dataset_convert", "Convert a KITTI folder into kiln detection shards");
  det_convert->add_option("-d,--dataset_export_spec", det_convert_spec, "Conversion spec (YAML: kitti_config)")
      ->required();
  det_convert->add_option("-o,--output_dir", det_out_dir, "Output directory for shards and index.json")->required();
  det_convert->allow_extras();
  det_convert->footer(kOverridesHelp);

  runtime::InferenceOptions io;
  auto* infer = cls->add_subcommand("inference", "Classify images (file, folder or IDX) into inference.csv");
  infer->add_option("-m,--model", io.run.model_path, "Model file (.kiln)")->required();
  infer->add_option("-i,--image_dir", io.input, "An image file, a folder of PNG/JPEG files, or an IDX images file")
      ->required();
  infer->add_option("-o,--results_dir", io.output_dir, "Where inference.csv (and images/) go")->required();
  infer->add_option("-e,--experiment_spec_file", io.run.spec_file,
                    "Experiment spec (default: the one stored in the model file)");
  infer->add_option("--batch_size", io.batch_size, "Images per forward pass and rank (default: eval_config.batch_size)")
      ->check(CLI::NonNegativeNumber);
  infer->add_flag("--annotate", io.annotate, "Also write each image with its predicted label drawn on it");
  LaunchFlags infer_launch;
  add_run_options(infer, io.run, infer_launch);

  runtime::ExportTaskOptions eo;
  bool no_verify = false;
  auto* exp = add_export_command(cls, eo, no_verify);
  auto* det_exp = add_export_command(det, eo, no_verify);

  runtime::PruneTaskOptions po;
  auto* prune = add_prune_command(cls, po);
  auto* det_prune = add_prune_command(det, po);

  auto* cluster_cmd = app.add_subcommand("cluster", "Cluster tools");
  auto* check = cluster_cmd->add_subcommand("check", "Preflight: every rank reachable, placement, all-reduce bandwidth");
  JobLaunch check_job;
  add_launch_options(check, check_job);
  cluster_cmd->require_subcommand(1);

  SynthCommand synth;
  add_dataset_commands(app, synth);

  // TAO spells some options with one dash and several letters (-pth, -nf, …), which CLI11 reads as bundled short
  // flags: give CLI11 their long names.
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& a : args) a = tao_short_option(a);
  std::reverse(args.begin(), args.end());  // CLI11's vector form takes the arguments last to first

  int code = 0;
  try {
    try {
      app.parse(args);
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
    } else if (*synth.cmd) {
      run_synth_kitti(synth);
    } else if (*train || *evaluate) {
      code = launch_or_run(
          *train ? *train : *evaluate, ro, launch, ro.results_dir, argc, argv,
          [&] { runtime::check_experiment_spec(ro); },  // a bad spec is exit 2 before any rank starts
          [&] { *train ? runtime::run_train(ro) : runtime::run_evaluate(ro); });
    } else if (*check) {
      const auto rank = cluster::discover_rank();
      if (wants_launch(check_job) && !rank.distributed()) {
        std::cout << cluster::placement_table(job_cluster(check_job)) << std::flush;
        code = launch_ranks(check_job, argc, argv);
      } else {
        runtime::run_cluster_check(rank);
      }
    } else if (*infer) {
      code = launch_or_run(
          *infer, io.run, infer_launch, io.output_dir, argc, argv,
          [&] { runtime::check_inference_options(io); },  // exit 2/3 before any rank starts
          [&] { runtime::run_inference(io); });
    } else if (*exp || *det_exp) {
      eo.network = *exp ? "classification" : "detectnet_v2";
      eo.run.overrides = overrides_of(*exp ? *exp : *det_exp);
      eo.verify = !no_verify;
      runtime::configure_threads(eo.run.threads, cluster::RankInfo{});
      runtime::run_export(eo);
    } else if (*prune || *det_prune) {
      runtime::run_prune(po);
    } else if (*convert) {
      runtime::run_dataset_convert(convert_spec, overrides_of(*convert), out_dir);
    } else if (*det_train || *det_eval) {
      code = launch_or_run(
          *det_train ? *det_train : *det_eval, dro, det_launch, dro.results_dir, argc, argv,
          [&] { runtime::check_detectnet_spec(dro); },
          [&] { *det_train ? runtime::run_detectnet_train(dro) : runtime::run_detectnet_evaluate(dro); });
    } else if (*det_infer) {
      code = launch_or_run(
          *det_infer, dio.run, det_infer_launch, dio.output_dir, argc, argv,
          [&] { runtime::check_detectnet_spec(dio.run); }, [&] { runtime::run_detectnet_inference(dio); });
    } else if (*det_convert) {
      runtime::run_detectnet_convert(det_convert_spec, overrides_of(*det_convert), det_out_dir);
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
