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
  add_use_amp(cmd, ro.overrides, "train_config.amp");
  add_run_options(cmd, ro, task->launch, "train_config.n_epochs=3 'model_config.freeze_blocks=[0,1]'");
  return rank_task_action(task, "classification",
                          "model.kiln, checkpoints/, status.json, training_history.csv, training_curves.png",
                          &Runtime::check_experiment_spec, &Runtime::train);
}

Action bind_classification_evaluate(CLI::App& cmd) {
  auto task = std::make_shared<RankTask>();
  auto& ro = task->run;
  add_spec_file(cmd, ro.spec_file, "Experiment spec (YAML): data and eval_config")->required();
  add_model(cmd, ro.model_path, "Model file (.kiln) to evaluate")->required();
  add_results_dir(cmd, ro.results_dir, "Where evaluation/ and status.json go (default: the model's directory)");
  add_run_options(cmd, ro, task->launch, "eval_config.top_k=3 dataset_config.val.max_samples=1000");
  return rank_task_action(task, "classification",
                          "evaluation/ (metrics.json, per_class_accuracy.csv, confusion_matrix.csv), status.json "
                          "(without -r: in the model's directory)",
                          &Runtime::check_evaluation_spec, &Runtime::evaluate);
}

Action bind_classification_convert(CLI::App& cmd) {
  auto args = std::make_shared<ConvertArgs>();
  add_convert_options(cmd, *args, "Conversion spec (YAML)", "num_shards=8 source.max_samples=1000");
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
  add_inference_input(cmd, io.input, "An image file, a folder of PNG/JPEG files, or an IDX images file");
  cmd.add_option("-o,-r,--results_dir", io.output_dir, "Where inference.csv (and images/) go")->required();
  add_spec_file(cmd, io.run.spec_file, "Experiment spec (default: the one stored in the model file)");
  cmd.add_option("--batch_size", io.batch_size, "Images per forward pass and rank (default: eval_config.batch_size)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--annotate", io.annotate, "Also write each image with its predicted label drawn on it");
  add_run_options(cmd, io.run, task->launch, "eval_config.batch_size=64");
  return [task](const Invocation& in) {
    require_inference_input(task->io.input);
    const std::string writes = task->io.annotate ? "inference.csv, images/" : "inference.csv";
    RankJob job{"classification", task->io.output_dir, writes,
                [task](Runtime& rt) { rt.check_inference(task->io); },  // exit 2/3 before any rank starts
                [task](Runtime& rt) { rt.inference(task->io); }};
    return launch_or_run(in, task->io.run, task->launch, job);
  };
}

}  // namespace

void add_classification_commands(CommandTable& table) {
  // TAO 5 calls this network classification_tf1 (its spec is the one kiln reads; classification_tf2's is not).
  table.group("classification", "Image classification (arch: lenet5, resnet 10/18/34, mobilenet_v2)",
              {"classification_tf1"});
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
