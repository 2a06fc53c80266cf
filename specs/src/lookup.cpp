#include "kiln/specs/lookup.h"

#include "text.h"

namespace kiln::specs {

const Field* find_field(const Schema& schema, const std::string& path) {
  const std::vector<Field>* level = &schema.fields;
  const Field* found = nullptr;
  for (const auto& part : detail::split(path, '.')) {
    if (!level) return nullptr;
    const std::string name = part.substr(0, part.find('['));
    found = nullptr;
    for (const auto& f : *level) {
      if (f.name == name) found = &f;
    }
    if (!found) return nullptr;
    const bool item = part.find('[') != std::string::npos;
    if (item != (found->type == Type::kGroupList)) return nullptr;  // "[]" exactly on group lists
    const bool has_children =
        found->type == Type::kGroup || found->type == Type::kOneOf || found->type == Type::kGroupList;
    level = has_children ? &found->children : nullptr;
  }
  return found;
}

std::string suggest(const std::string& name, const std::vector<std::string>& candidates) {
  return detail::did_you_mean(name, candidates);
}

}  // namespace kiln::specs
