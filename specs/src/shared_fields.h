// Schema pieces that more than one spec uses (internal to kiln_specs).
#pragma once
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::specs::detail {

// train_config.data_parallel / training_config.data_parallel: lr_scaling, bucket sizes, gradient compression.
Field data_parallel_group(std::string lr_scaling_doc, std::string doc);

// train_config.visualizer / training_config.visualizer: TensorBoard event files in the results folder (TAO's
// visualizer block: enabled, num_images; DetectNet_v2's logging frequencies, which kiln gives both tasks).
Field visualizer_group();

// train_config.amp / training_config.amp: automatic mixed precision (autocast in bf16 or fp16, fp32 master weights,
// dynamic loss scaling for fp16); the launcher's --use_amp sets enabled (docs/mixed_precision.md).
Field amp_group();

// train_config.memory_format / training_config.memory_format: auto | channels_last | contiguous.
Field memory_format_field();

// `fields` with the step- and time-based checkpoint keys (checkpoint_interval_steps, checkpoint_interval_minutes,
// checkpoints_to_keep) inserted after its checkpoint_interval, where a reader of the spec's docs looks for them.
std::vector<Field> with_checkpoint_fields(std::vector<Field> fields);

}  // namespace kiln::specs::detail
