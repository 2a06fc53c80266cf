// The DetectNet_v2 schemas. Key names and meanings follow TAO's DetectNet_v2 spec (docs/detection.md, docs/specs.md).
#pragma once
#include "kiln/specs/spec.h"

namespace kiln::specs {

// `kiln detectnet_v2 train|evaluate -e experiment.yaml`: TAO's experiment spec (random_seed, dataset_config,
// augmentation_config, model_config, bbox_rasterizer_config, cost_function_config, training_config,
// postprocessing_config, evaluation_config). TAO's protobuf maps (`target_class_config { key: "car" value {...} }`)
// are lists of `{key, value}` items. Its check enforces the rules between keys: one cost_function_config.target_classes
// entry per class, and exactly one rasterizer and post-processing entry for each of them, the class mapping onto
// those classes, both objectives (cov, bbox) at most once each, image sizes multiples of model_config.stride,
// validation_fold and validation_data_source not both.
const Schema& detectnet_v2_schema();

// `kiln detectnet_v2 dataset_convert -d convert.yaml -o shards`: kitti_config + target_class_mapping.
const Schema& detectnet_v2_convert_schema();

}  // namespace kiln::specs
