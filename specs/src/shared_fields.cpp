// Schema pieces shared by the classification and DetectNet_v2 specs (shared_fields.h).
#include "shared_fields.h"

#include <algorithm>
#include <stdexcept>

namespace kiln::specs::detail {

Field data_parallel_group(std::string lr_scaling_doc, std::string doc) {
  return group("data_parallel",
               {enumeration("lr_scaling", {"none", "linear"}, std::string("none"), std::move(lr_scaling_doc)),
                real("first_bucket_mb", 1.0, "Size of the first gradient bucket (starts communication early).", 0.001,
                     1024),
                real("bucket_mb", 25.0, "Size of the other gradient buckets.", 0.001, 4096),
                enumeration("gradient_compression", {"none", "fp16", "bf16"}, std::string("none"),
                            "Gradients travel as 16-bit floats, are averaged, and are cast back.")},
               std::move(doc));
}

Field visualizer_group() {
  return group("visualizer",
               {boolean("enabled", false,
                        "Write TensorBoard event files (events.out.tfevents.*) in the results folder: "
                        "`tensorboard --logdir RESULTS` shows the run live."),
                integer("num_images", 3, "Sample validation images with their predictions, every "
                                         "infrequent_logging_frequency epochs (0 = none).",
                        0, 64),
                integer("scalar_logging_frequency", 10, "Log the running loss and learning rate every N steps.", 1,
                        1e9),
                integer("infrequent_logging_frequency", 5, "Log the sample images every N epochs.", 1, 1e6)},
               "TensorBoard logs, as TAO's visualizer (docs/formats.md, 'TensorBoard event files').");
}

Field amp_group() {
  return group(
      "amp",
      {boolean("enabled", false,
               "Automatic mixed precision: the forward pass and loss run under autocast (matrix products and "
               "convolutions in 16-bit floats), weights, gradients and the optimizer stay float32. --use_amp sets it."),
       enumeration("dtype", {"auto", "bf16", "fp16"}, std::string("auto"),
                   "16-bit type of autocast. auto: fp16 with dynamic loss scaling on a GPU (TAO's AMP), bf16 on a "
                   "CPU (CPU autocast has no fp16)."),
       real("initial_loss_scale", 65536.0, "fp16: the loss scale to start from (dynamic loss scaling).", 1, 1e30),
       integer("loss_scale_growth_interval", 2000,
               "fp16: the loss scale doubles after this many steps without an overflow; an overflow skips the step "
               "and halves it.",
               1, 1e9)},
      "Mixed precision training (kiln addition; TAO's --use_amp flag).");
}

Field memory_format_field() {
  return enumeration("memory_format", {"auto", "channels_last", "contiguous"}, std::string("auto"),
                     "Layout of convolution weights and activations while training (kiln addition). auto: "
                     "channels_last (NHWC), faster on GPUs and, as measured, on CPUs (docs/mixed_precision.md).");
}

std::vector<Field> with_checkpoint_fields(std::vector<Field> fields) {
  auto at = std::find_if(fields.begin(), fields.end(), [](const Field& f) { return f.name == "checkpoint_interval"; });
  if (at == fields.end()) throw std::logic_error("with_checkpoint_fields: no checkpoint_interval field");
  fields.insert(at + 1,
                {integer("checkpoint_interval_steps", 0,
                         "Also save a checkpoint every N optimizer steps, mid-epoch too (0 = off; kiln addition).", 0,
                         1e12),
                 real("checkpoint_interval_minutes", 0,
                      "Also save a checkpoint every N minutes of training (0 = off; kiln addition).", 0, 1e6),
                 integer("checkpoints_to_keep", 0,
                         "Keep only the newest N checkpoint files; 0 keeps them all, as TAO does (kiln addition).", 0,
                         1e6)});
  return fields;
}

}  // namespace kiln::specs::detail
