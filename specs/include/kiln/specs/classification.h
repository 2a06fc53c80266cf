// The classification experiment spec (TAO-like groups: model_config, train_config, dataset_config, eval_config).
#pragma once
#include "kiln/specs/spec.h"

namespace kiln::specs {

const Schema& classification_schema();

// The classification dataset_convert spec (`kiln classification dataset_convert -d convert.yaml -o out`).
const Schema& classification_convert_schema();

}  // namespace kiln::specs
