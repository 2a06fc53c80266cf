// Path checks for subtasks that read only part of a spec: relax the schema, then require what is read.
#include <filesystem>

#include "kiln/specs/spec.h"

namespace kiln::specs {
namespace {

void relax(std::vector<Field>& fields) {
  for (Field& f : fields) {
    if (f.type == Type::kPath) f.must_exist = false;
    relax(f.children);
  }
}

}  // namespace

Schema without_path_checks(Schema schema) {
  relax(schema.fields);
  return schema;
}

void require_existing_paths(const Spec& spec, const std::vector<std::string>& keys) {
  std::vector<SpecIssue> issues;
  for (const std::string& key : keys) {
    if (!spec.has(key)) continue;
    const std::string& path = spec.get_string(key);
    std::error_code ec;
    if (!path.empty() && !std::filesystem::exists(path, ec))
      issues.push_back({spec.location(key), key, "path does not exist: " + path});
  }
  if (!issues.empty()) throw SpecError(std::move(issues));
}

}  // namespace kiln::specs
