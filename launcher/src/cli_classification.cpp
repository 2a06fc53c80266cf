// `kiln classification train|evaluate|dataset_convert|inference|export|prune` (docs/cli.md).
#include <memory>

#include "cli_commands.h"
#include "cli_launch.h"
#include "cli_options.h"
#include "kiln/runtime/inference.h"

namespace kiln::launcher::cli {
namespace {

Action bind_classification_train(CLI::App& cmd) {
  auto task = std::make_shared<RankTask>();
  auto& ro = task->run;
  add_spec_file(cmd, ro.spec_file, "Experiment spec (YAML)")->required();
  add_results_dir(cmd, ro.results_dir, "Results directory (checkpoints, logs, status.json)")->required();
  add_model(cmd, ro.model_path, "Pretrained model (.kiln) to start from (overrides pretrained_model_path)");
  cmd.add_flag("--enable_determinism", ro.deterministic, "Deterministic algorithms (bit-identical reruns)");
  add_run_options(cmd, ro, task->launch);
  return rank_task_action(task, &Runtime::check_experiment_spec, &Runtime::train);
}

Action bind_classification_evaluate(CLI::App& cmd) {
  auto task = std::make_shared<RankTask>();
  auto& ro = task->run;
  add_spec_file(cmd, ro.spec_file, "Experiment spec (YAML): data and eval_config")->required();
  add_model(cmd, ro.model_path, "Model file (.kiln) to evaluate")->required();
  add_results_dir(cmd, ro.results_dir, "Where evaluation/ and status.json go (default: the model's directory)");
  add_run_options(cmd, ro, task->launch);
  return rank_task_action(task, &Runtime::check_evaluation_spec, &Runtime::evaluate);
}

Action bind_classification_convert(CLI::App& cmd) {
  auto args = std::make_shared<ConvertArgs>();
  add_convert_options(cmd, *args, "Conversion spec (YAML)");
  return [args](const Invocation& in) {
    in.runtime.dataset_convert(args->spec, overrides_of(in.cmd), args->out_dir);
    return 0;
  };
}

struct ClassificationInference {
  runtime::InferenceOptions io;
  LaunchFlags launch;
};

Action bind_classification_inference(CLI::App& cmd) {
  auto task = std::make_shared<ClassificationInference>();
  auto& io = task->io;
  add_model(cmd, io.run.model_path, "Model file (.kiln)")->required();
  cmd.add_option("-i,--image_dir", io.input, "An image file, a folder of PNG/JPEG files, or an IDX images file")
      ->required();
  cmd.add_option("-o,--results_dir", io.output_dir, "Where inference.csv (and images/) go")->required();
  add_spec_file(cmd, io.run.spec_file, "Experiment spec (default: the one stored in the model file)");
  cmd.add_option("--batch_size", io.batch_size, "Images per forward pass and rank (default: eval_config.batch_size)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--annotate", io.annotate, "Also write each image with its predicted label drawn on it");
  add_run_options(cmd, io.run, task->launch);
  return [task](const Invocation& in) {
    return launch_or_run(
        in, task->io.run, task->launch, task->io.output_dir,
        [task](Runtime& rt) { rt.check_inference(task->io); },  // exit 2/3 before any rank starts
        [task](Runtime& rt) { rt.inference(task->io); });
  };
}

}  // namespace

void add_classification_commands(CommandTable& table) {
  table.group("classification", "Image classification (arch: lenet5, resnet 10/18/34, mobilenet_v2)");
  table.command({"classification", "train"}, "Train (or resume) a classifier from an experiment spec",
                bind_classification_train);
  table.command({"classification", "evaluate"},
                "Evaluate a model: top-1/top-k, per-class accuracy, confusion matrix", bind_classification_evaluate);
  table.command({"classification", "dataset_convert"}, "Convert IDX or image folders into checksummed kiln shards",
                bind_classification_convert);
  table.command({"classification", "inference"}, "Classify images (file, folder or IDX) into inference.csv",
                bind_classification_inference);
  add_export_command(table, "classification");
  add_prune_command(table, "classification");
}

}  // namespace kiln::launcher::cli
