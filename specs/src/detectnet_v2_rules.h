// The rules between keys of the DetectNet_v2 experiment spec (internal to kiln_specs): class lists and maps agree,
// objectives, image sizes against the stride, min/max pairs. Each problem is reported at the key it is about.
#pragma once
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::specs::detail {

void check_detectnet_v2_experiment(const Spec& spec, std::vector<SpecIssue>& issues);

}  // namespace kiln::specs::detail
