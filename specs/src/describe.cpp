// describe_schema: the Markdown reference of a schema (docs/specs.md is generated from it).
#include <sstream>

#include "kiln/specs/spec.h"
#include "text.h"
#include "validate.h"

namespace kiln::specs {
namespace {

using detail::format_float;
using detail::join;

std::string type_name(const Field& f) {
  switch (f.type) {
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "string";
    case Type::kPath:
      return f.must_exist ? "path (must exist)" : "path";
    case Type::kEnum:
      return "enum";
    case Type::kIntList:
      return "int list";
    case Type::kFloatList:
      return "float list";
    case Type::kStringList:
      return "string list";
    case Type::kGroup:
      return "group";
    case Type::kOneOf:
      return "one of";
    case Type::kGroupList:
      return "list of groups";
    case Type::kStringMap:
      return "string map";
  }
  return "";
}

struct ValueText {
  std::string operator()(bool b) { return b ? "true" : "false"; }
  std::string operator()(int64_t i) { return std::to_string(i); }
  std::string operator()(double d) { return format_float(d); }
  std::string operator()(const std::string& s) { return s.empty() ? "\"\"" : s; }
  std::string operator()(const StringMap& entries) {
    std::vector<std::string> parts;
    for (const auto& [name, value] : entries) parts.push_back(name + ": " + (*this)(value));
    return "{" + join(parts, ", ") + "}";
  }
  template <typename T>
  std::string operator()(const std::vector<T>& items) {
    std::vector<std::string> parts;
    for (const auto& item : items) parts.push_back((*this)(item));
    return "[" + join(parts, ", ") + "]";
  }
};

std::string code(const std::string& s) { return "`" + s + "`"; }

std::string codes(const std::vector<std::string>& names) {
  std::vector<std::string> parts;
  for (const auto& n : names) parts.push_back(code(n));
  return join(parts, ", ");
}

std::string default_text(const Field& f) {
  if (f.required) return "**required**";
  if (f.type == Type::kGroup) return detail::has_required(f) ? "absent" : "";
  if (f.type == Type::kOneOf) return f.default_choice.empty() ? "absent" : code(f.default_choice);
  if (f.type == Type::kGroupList) return code("[]");
  if (!f.default_value) return "absent";
  return code(std::visit(ValueText{}, *f.default_value));
}

std::string range_column(const Field& f) {
  if (f.type == Type::kEnum) return codes(f.choices);
  if (f.type == Type::kOneOf) return codes(detail::field_names(f.children));
  std::string range = detail::range_text(f.min, f.max, f.exclusive_min);
  const bool items = f.type == Type::kGroupList;
  if (f.type != Type::kIntList && f.type != Type::kFloatList && f.type != Type::kStringList && !items) return range;
  const std::string unit = items ? " items" : " values";
  std::string length;
  if (f.min_len && f.max_len) {
    length = std::to_string(*f.min_len) + " to " + std::to_string(*f.max_len) + unit;
  } else if (f.min_len || f.max_len) {
    length =
        f.min_len ? "at least " + std::to_string(*f.min_len) + unit : "at most " + std::to_string(*f.max_len) + unit;
  }
  if (!range.empty()) range = "each " + range;
  return length.empty() || range.empty() ? length + range : length + "; " + range;
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == '|') ? std::string("\\|") : std::string(1, c);
  return out;
}

bool is_container(const Field& f) {
  return f.type == Type::kGroup || f.type == Type::kOneOf || f.type == Type::kGroupList;
}

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// A group list's section is about one item: "nodes[]".
std::string section_path(const std::string& prefix, const Field& f) {
  return join_path(prefix, f.name) + (f.type == Type::kGroupList ? "[]" : "");
}

void table(std::ostream& out, const std::vector<Field>& fields, const std::string& prefix) {
  out << "| Key | Type | Default | Range / choices | Description |\n";
  out << "|---|---|---|---|---|\n";
  for (const auto& f : fields) {
    std::string doc = escape(f.doc);
    if (is_container(f)) doc += std::string(doc.empty() ? "" : " ") + "See " + code(section_path(prefix, f)) + ".";
    out << "| " << code(f.name) << " | " << type_name(f) << " | " << default_text(f) << " | " << range_column(f)
        << " | " << doc << " |\n";
  }
  out << "\n";
}

void section(std::ostream& out, const Field& f, const std::string& path) {
  out << "### " << code(path) << "\n\n";
  if (!f.doc.empty()) out << f.doc << "\n\n";
  if (f.type == Type::kOneOf) {
    out << "Give at most one of " << codes(detail::field_names(f.children));
    if (!f.default_choice.empty()) out << "; without one, " << code(f.default_choice) << " is used with its defaults";
    out << ".\n\n";
    for (const auto& alternative : f.children) section(out, alternative, join_path(path, alternative.name));
    return;
  }
  if (!f.children.empty()) table(out, f.children, path);
  for (const auto& c : f.children) {
    if (is_container(c)) section(out, c, section_path(path, c));
  }
}

}  // namespace

std::string describe_schema(const Schema& schema) {
  std::ostringstream out;
  std::vector<Field> top_level_values;
  for (const auto& f : schema.fields) {
    if (!is_container(f)) top_level_values.push_back(f);
  }
  if (!top_level_values.empty()) {
    out << "### Top level\n\n";
    table(out, schema.fields, "");
  }
  for (const auto& f : schema.fields) {
    if (is_container(f)) section(out, f, section_path("", f));
  }
  std::string text = out.str();
  while (text.size() > 1 && text[text.size() - 1] == '\n' && text[text.size() - 2] == '\n') text.pop_back();
  return text;
}

}  // namespace kiln::specs
