// Checks a merged YAML tree against a Schema and fills a Spec with every value (given or default).
#pragma once
#include <string>
#include <vector>

#include "kiln/specs/spec.h"
#include "tree.h"

namespace kiln::specs::detail {

// `root` is a map. Relative paths from the file resolve against `base_dir` (absolute); those from the command
// line against the working directory. Every problem is appended to `issues`; `spec` is complete only when none is.
void validate(const Schema& schema, const Node& root, const std::string& base_dir, Spec& spec,
              std::vector<SpecIssue>& issues);

// An optional group whose keys include required ones cannot be filled with defaults: it stays absent as a whole.
bool has_required(const Field& group);

const Field* find_field(const std::vector<Field>& fields, const std::string& name);
std::vector<std::string> field_names(const std::vector<Field>& fields);

}  // namespace kiln::specs::detail
