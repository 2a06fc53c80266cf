// `<network> export` and `<network> prune` with TAO's options, for classification and detectnet_v2 alike: both read
// the network from the model file (export checks it against the command's network).
#include <memory>

#include "cli_commands.h"
#include "cli_options.h"
#include "kiln/runtime/export_task.h"
#include "kiln/runtime/prune.h"

namespace kiln::launcher::cli {
namespace {

struct ExportArgs {
  runtime::ExportTaskOptions eo;
  bool no_verify = false;
};

void add_export_io_options(CLI::App& cmd, runtime::ExportTaskOptions& eo) {
  add_model(cmd, eo.run.model_path, "Model file (.kiln) to export")->required();
  cmd.add_option("-o,--output_file", eo.output_path, "The ONNX file to write")->required();
  add_spec_file(cmd, eo.run.spec_file,
                "Spec for calibration/evaluation data and normalisation (default: the one stored in the model)");
  add_results_dir(cmd, eo.results_dir, "Where status.json goes (default: the output's directory)");
}

void add_export_format_options(CLI::App& cmd, runtime::ExportTaskOptions& eo) {
  cmd.add_option("--target_opset", eo.opset, "ONNX opset (12-17; int8 needs 13+)")->capture_default_str();
  cmd.add_option("--data_type", eo.data_type, "fp32 | fp16 | int8")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  cmd.add_option("--batch_size", eo.batch_size, "INT8 calibration: images per batch")->capture_default_str();
  cmd.add_option("--batches", eo.batches, "INT8 calibration: number of batches")->capture_default_str();
  cmd.add_option("--cal_cache_file", eo.cal_cache_file, "INT8 calibration cache (default: cal.bin beside -o)");
  cmd.add_option("--cal_method", eo.cal_method,
                 "INT8 ranges: percentile (of |x|, default) | entropy (TensorRT's EntropyCalibration2 search) | max")
      ->capture_default_str();
  cmd.add_option("--percentile", eo.percentile, "--cal_method percentile: the percentile of |x|")
      ->capture_default_str();
  cmd.add_option("--eval_images", eo.eval_images,
                 "INT8: accuracy (detectnet_v2: coverage agreement) on this many evaluation images (0 = all)")
      ->capture_default_str();
  cmd.add_flag("--gen_ds_config", eo.gen_ds_config, "Also write labels.txt and a DeepStream nvinfer_config.txt");
}

Action bind_export(CLI::App& cmd, const std::string& network) {
  auto args = std::make_shared<ExportArgs>();
  add_export_io_options(cmd, args->eo);
  add_export_format_options(cmd, args->eo);
  cmd.add_flag("--no_verify", args->no_verify, "Skip running the exported model in onnxruntime");
  cmd.add_option("--num_threads", args->eo.run.threads, "Intra-op threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  allow_overrides(cmd, network == "classification" ? "dataset_config.train.max_samples=2000" : "");
  return [args, network](const Invocation& in) {
    args->eo.network = network;
    args->eo.run.overrides = overrides_of(in.cmd);
    args->eo.verify = !args->no_verify;
    in.runtime.export_model(args->eo);
    return 0;
  };
}

Action bind_prune(CLI::App& cmd) {
  auto po = std::make_shared<runtime::PruneTaskOptions>();
  add_model(cmd, po->model_path, "Model file (.kiln) to prune")->required();
  cmd.add_option("-o,--output_file", po->output_path, "The pruned model file (.kiln)")->required();
  add_results_dir(cmd, po->results_dir, "Where status.json goes (default: the output's directory)");
  auto& p = po->prune;
  cmd.add_option("--pruning_threshold", p.threshold, "-pth: keep filters whose normalised norm is above this")
      ->capture_default_str();
  cmd.add_option("--min_num_filters", p.min_num_filters, "-nf: at least this many filters per layer")
      ->capture_default_str();
  cmd.add_option("--pruning_granularity", p.granularity, "-pg: kept filters are a multiple of this")
      ->capture_default_str();
  cmd.add_option("-n,--normalizer", p.normalizer, "max | L2: how a layer's filter norms are normalised")
      ->capture_default_str();
  cmd.add_option("--equalization_criterion", p.equalization,
                 "-eq: layers tied by residual adds keep channels by union | intersection | arithmetic_mean | "
                 "geometric_mean")
      ->capture_default_str();
  cmd.add_option("--excluded_layers", p.excluded, "-el: layers (or channel keys) left whole, comma-separated")
      ->delimiter(',');
  cmd.footer("TAO's short forms work too: -pth 0.1 -nf 16 -pg 8 -eq union -el conv1,fc1");
  return [po](const Invocation& in) {
    in.runtime.prune(*po);
    return 0;
  };
}

}  // namespace

void add_export_command(CommandTable& table, const std::string& network) {
  table.command({network, "export"}, "Export ONNX (fp32 | fp16 | int8 QDQ + TensorRT calibration cache)",
                [network](CLI::App& cmd) { return bind_export(cmd, network); });
}

void add_prune_command(CommandTable& table, const std::string& network) {
  table.command({network, "prune"}, "Prune filters by L2 norm; the result retrains with train -m", bind_prune);
}

}  // namespace kiln::launcher::cli
