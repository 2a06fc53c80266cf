// The DetectNet_v2 schemas. Key names and meanings follow TAO's DetectNet_v2 (shared/reference/tao-specs.md §2–4).
#pragma once
#include "kiln/specs/spec.h"

namespace kiln::specs {

// `kiln detectnet_v2 dataset_convert -d convert.yaml -o shards`: kitti_config + target_class_mapping.
const Schema& detectnet_v2_convert_schema();

}  // namespace kiln::specs
