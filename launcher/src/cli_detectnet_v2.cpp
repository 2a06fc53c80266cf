// `kiln detectnet_v2 train|evaluate|inference|dataset_convert|export|prune`: the grid detector (docs/detection.md).
#include <memory>

#include "cli_commands.h"
#include "cli_launch.h"
#include "cli_options.h"
#include "kiln/runtime/detectnet.h"

namespace kiln::launcher::cli {
namespace {

Action bind_detectnet_train(CLI::App& cmd) {
  auto task = std::make_shared<RankTask>();
  auto& ro = task->run;
  add_spec_file(cmd, ro.spec_file, "Experiment spec (YAML)")->required();
  add_results_dir(cmd, ro.results_dir, "Results directory (checkpoints, logs, status.json)")->required();
  add_model(cmd, ro.model_path, "Pretrained model (.kiln) to start from");
  add_use_amp(cmd, ro.overrides, "training_config.amp");
  add_run_options(cmd, ro, task->launch, "training_config.num_epochs=3 training_config.batch_size_per_gpu=4");
  return rank_task_action(task, "detectnet_v2",
                          "model.kiln, checkpoints/, status.json, training_history.csv, training_curves.png",
                          &Runtime::check_detectnet_spec, &Runtime::detectnet_train);
}

Action bind_detectnet_evaluate(CLI::App& cmd) {
  auto task = std::make_shared<RankTask>();
  auto& ro = task->run;
  add_spec_file(cmd, ro.spec_file, "Experiment spec (YAML)")->required();
  add_model(cmd, ro.model_path, "Model file (.kiln) to evaluate")->required();
  add_results_dir(cmd, ro.results_dir, "Where evaluation/ goes (default: the model's directory)");
  add_run_options(cmd, ro, task->launch, "evaluation_config.average_precision_mode=INTEGRATE");
  return rank_task_action(task, "detectnet_v2", "evaluation/ (without -r: in the model's directory)",
                          &Runtime::check_detectnet_evaluation_spec, &Runtime::detectnet_evaluate);
}

struct DetectnetInference {
  runtime::DetectnetInferenceOptions dio;
  LaunchFlags launch;
};

Action bind_detectnet_inference(CLI::App& cmd) {
  auto task = std::make_shared<DetectnetInference>();
  auto& dio = task->dio;
  add_spec_file(cmd, dio.run.spec_file, "Experiment spec (YAML)")->required();
  add_model(cmd, dio.run.model_path, "Model file (.kiln)")->required();
  add_inference_input(cmd, dio.input, "An image file or a folder of PNG/JPEG files");
  cmd.add_option("-o,-r,--results_dir", dio.output_dir, "Where labels/ and images_annotated/ go")->required();
  cmd.add_option("--batch_size", dio.batch_size, "Images per forward pass and rank")->check(CLI::NonNegativeNumber);
  add_run_options(cmd, dio.run, task->launch, "");
  return [task](const Invocation& in) {
    require_inference_input(task->dio.input);
    RankJob job{"detectnet_v2", task->dio.output_dir, "labels/, images_annotated/, status.json",
                [task](Runtime& rt) { rt.check_detectnet_inference(task->dio); },
                [task](Runtime& rt) { rt.detectnet_inference(task->dio); }};
    return launch_or_run(in, task->dio.run, task->launch, job);
  };
}

Action bind_detectnet_convert(CLI::App& cmd) {
  auto args = std::make_shared<ConvertArgs>();
  add_convert_options(cmd, *args, "Conversion spec (YAML: kitti_config)",
                      "kitti_config.val_split=20 kitti_config.root_directory_path=data/synth/val");
  return [args](const Invocation& in) {
    in.runtime.detectnet_convert(args->spec, overrides_of(in.cmd), args->out_dir);
    return 0;
  };
}

}  // namespace

void add_detectnet_v2_commands(CommandTable& table) {
  table.group("detectnet_v2", "Object detection (DetectNet_v2: ResNet backbone, coverage + bbox heads)");
  table.command({"detectnet_v2", "train"}, "Train (or resume) a DetectNet_v2 detector from an experiment spec",
                bind_detectnet_train);
  table.command({"detectnet_v2", "evaluate"}, "AP per class and mAP on the validation data", bind_detectnet_evaluate);
  table.command({"detectnet_v2", "inference"}, "Detect objects: KITTI labels with confidences, drawn boxes",
                bind_detectnet_inference);
  table.command({"detectnet_v2", "dataset_convert"}, "Convert a KITTI folder into kiln detection shards",
                bind_detectnet_convert);
  add_export_command(table, "detectnet_v2");
  add_prune_command(table, "detectnet_v2");
}

}  // namespace kiln::launcher::cli
