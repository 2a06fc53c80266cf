// DetectNet_v2 subtasks (docs/detection.md).
#pragma once
#include <string>
#include <vector>

namespace kiln::runtime {

// `kiln detectnet_v2 dataset_convert -d convert.yaml -o out`: reads a KITTI folder (images + one label file per
// image), checks every label line against its image (DataError "<file>:<line>: …" before anything is written), maps
// classes by target_class_mapping (unmapped objects are left out and counted), partitions the images into folds
// (random: the first val_split percent by name form fold 0, as TAO's converter does; each fold shuffled) and writes
// kiln detection shards with index.json last. Prints per-class object counts per fold.
void run_detectnet_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                           const std::string& out_dir);

}  // namespace kiln::runtime
