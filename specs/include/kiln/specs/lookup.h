// Lookups in a schema for code that writes specs rather than reads them (kiln spec import).
#pragma once
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::specs {

// The schema's key at a dotted path: "train_config.optimizer.sgd.momentum"; a group list's item keys as
// "data_sources[].shards" (an index such as "[0]" may stand in the brackets). nullptr when the schema has none.
const Field* find_field(const Schema& schema, const std::string& path);

// " (did you mean 'x'?)" for the closest candidate within max(2, len/3) edits of `name`, else "".
std::string suggest(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace kiln::specs
