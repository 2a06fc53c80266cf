// Schema builders: each returns a Field with its type, default and range set, so schemas read like the YAML.
#include "kiln/specs/spec.h"

namespace kiln::specs {
namespace {

Field make(std::string name, Type type, std::string doc) {
  Field f;
  f.name = std::move(name);
  f.type = type;
  f.doc = std::move(doc);
  return f;
}

}  // namespace

Field boolean(std::string name, bool def, std::string doc) {
  Field f = make(std::move(name), Type::kBool, std::move(doc));
  f.default_value = Value(def);
  return f;
}

Field integer(std::string name, std::optional<int64_t> def, std::string doc, std::optional<double> min,
              std::optional<double> max) {
  Field f = make(std::move(name), Type::kInt, std::move(doc));
  if (def) f.default_value = Value(*def);
  f.min = min;
  f.max = max;
  return f;
}

Field real(std::string name, std::optional<double> def, std::string doc, std::optional<double> min,
           std::optional<double> max) {
  Field f = make(std::move(name), Type::kFloat, std::move(doc));
  if (def) f.default_value = Value(*def);
  f.min = min;
  f.max = max;
  return f;
}

Field string(std::string name, std::optional<std::string> def, std::string doc) {
  Field f = make(std::move(name), Type::kString, std::move(doc));
  if (def) f.default_value = Value(std::move(*def));
  return f;
}

Field path(std::string name, std::string doc, bool must_exist) {
  Field f = make(std::move(name), Type::kPath, std::move(doc));
  f.default_value = Value(std::string());
  f.must_exist = must_exist;
  return f;
}

Field enumeration(std::string name, std::vector<std::string> choices, std::optional<std::string> def, std::string doc) {
  Field f = make(std::move(name), Type::kEnum, std::move(doc));
  f.choices = std::move(choices);
  if (def) f.default_value = Value(std::move(*def));
  return f;
}

Field int_list(std::string name, std::vector<int64_t> def, std::string doc, std::optional<double> min,
               std::optional<double> max) {
  Field f = make(std::move(name), Type::kIntList, std::move(doc));
  f.default_value = Value(std::move(def));
  f.min = min;
  f.max = max;
  return f;
}

Field float_list(std::string name, std::vector<double> def, std::string doc, std::optional<double> min,
                 std::optional<double> max) {
  Field f = make(std::move(name), Type::kFloatList, std::move(doc));
  f.default_value = Value(std::move(def));
  f.min = min;
  f.max = max;
  return f;
}

Field group(std::string name, std::vector<Field> children, std::string doc) {
  Field f = make(std::move(name), Type::kGroup, std::move(doc));
  f.children = std::move(children);
  return f;
}

Field one_of(std::string name, std::vector<Field> alternatives, std::string default_choice, std::string doc) {
  Field f = make(std::move(name), Type::kOneOf, std::move(doc));
  f.children = std::move(alternatives);
  f.default_choice = std::move(default_choice);
  return f;
}

Field group_list(std::string name, std::vector<Field> item_keys, std::string doc) {
  Field f = make(std::move(name), Type::kGroupList, std::move(doc));
  f.children = std::move(item_keys);
  return f;
}

Field string_map(std::string name, std::string doc) {
  Field f = make(std::move(name), Type::kStringMap, std::move(doc));
  f.default_value = Value(StringMap{});
  return f;
}

Field required(Field f) {
  f.required = true;
  f.default_value.reset();
  return f;
}

}  // namespace kiln::specs
