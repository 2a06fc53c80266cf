// Schema pieces shared by the classification and DetectNet_v2 specs (shared_fields.h).
#include "shared_fields.h"

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

}  // namespace kiln::specs::detail
