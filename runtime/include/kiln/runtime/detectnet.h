// DetectNet_v2 subtasks (docs/detection.md).
#pragma once
#include <string>
#include <vector>

#include "kiln/runtime/tasks.h"

namespace kiln::runtime {

// `kiln detectnet_v2 dataset_convert -d convert.yaml -o out`: reads a KITTI folder (images + one label file per
// image), checks every label line against its image (DataError "<file>:<line>: …" before anything is written), maps
// classes by target_class_mapping (unmapped objects are left out and counted), partitions the images into folds
// (random: the first val_split percent by name form fold 0, as TAO's converter does; each fold shuffled) and writes
// kiln detection shards with index.json last. Prints per-class object counts per fold.
void run_detectnet_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                           const std::string& out_dir);

// The DetectNet_v2 spec of -e, validated (SpecError, exit 2): the launcher checks it before any rank starts.
void check_detectnet_spec(const RunOptions& opts);
// The same for evaluate, which reads only the validation data: the training shards need not exist.
void check_detectnet_evaluation_spec(const RunOptions& opts);

// `kiln detectnet_v2 train -e spec -r results [-m pretrained]`: trains on every rank of the job (data-parallel as
// classification), validating every validation_period_during_training epochs from first_validation_epoch on with AP
// per class; writes checkpoints (resumable: rerun the command), model.kiln, status.json, training_history.csv and
// training_curves.png (mAP in the middle panel).
void run_detectnet_train(const RunOptions& opts);

// `kiln detectnet_v2 evaluate -e spec -m model [-r dir]`: AP per class and mAP on the validation data, written to
// <dir>/evaluation/metrics.json and pr_curves.png.
void run_detectnet_evaluate(const RunOptions& opts);

// `kiln detectnet_v2 inference -e spec -m model -i images -o out [--batch_size N]`: detects objects in an image
// file or a folder of PNG/JPEG files (searched recursively) and writes, per image, as TAO lays them out and as the
// spec's bbox_handler_config says: <out>/labels/<name>.txt in KITTI's format with the confidence as a 16th field
// (every clustered box, in the image's own pixels) and <out>/images_annotated/<name>.png with the boxes at or above
// the drawing threshold and their class names. Ranks split the images; every rank stages its files and they are
// moved into place only once all ranks have succeeded, so a failed run leaves no labels behind. Only the spec's
// settings are read: its data paths need not exist (a model handed to a colleague runs there).
struct DetectnetInferenceOptions {
  RunOptions run;
  std::string input, output_dir;
  int batch_size = 0;  // 0: training_config.batch_size_per_gpu
};
void run_detectnet_inference(const DetectnetInferenceOptions& opts);
// What can be checked before any rank starts: -m/-i/-o given, the spec valid, -i holds images. UsageError (exit 2)
// or DataError (exit 3).
void check_detectnet_inference(const DetectnetInferenceOptions& opts);

}  // namespace kiln::runtime
