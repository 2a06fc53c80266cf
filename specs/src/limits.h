// What a spec may cost, checked on the YAML text before anything is built from it (docs/specs.md, "Limits").
#pragma once
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::specs::detail {

// Streams the YAML events of `text` (without building a node graph) and checks the node count and the nesting
// depth, both with aliases expanded, so an alias bomb is refused after a few KB of work. Returns false and adds one
// issue (at the node that crossed the limit) when a limit is exceeded; syntax errors are left to the parser.
bool within_limits(const std::string& text, const std::string& file, std::vector<SpecIssue>& issues);

// The issue for text longer than SpecLimits::kMaxBytes.
SpecIssue too_large(const std::string& file, const std::string& what);

}  // namespace kiln::specs::detail
