// Schema pieces that more than one spec uses (internal to kiln_specs).
#pragma once
#include <string>

#include "kiln/specs/spec.h"

namespace kiln::specs::detail {

// train_config.data_parallel / training_config.data_parallel: lr_scaling, bucket sizes, gradient compression.
Field data_parallel_group(std::string lr_scaling_doc, std::string doc);

}  // namespace kiln::specs::detail
