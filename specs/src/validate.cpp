#include "validate.h"

#include <algorithm>
#include <filesystem>

#include "text.h"

namespace kiln::specs::detail {
namespace {

namespace fs = std::filesystem;

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

const char* expected(Type t) {
  switch (t) {
    case Type::kBool:
      return "true or false";
    case Type::kInt:
      return "an integer";
    case Type::kFloat:
      return "a number";
    case Type::kIntList:
      return "a list of integers";
    case Type::kFloatList:
      return "a list of numbers";
    case Type::kStringList:
      return "a list of strings";
    default:
      return "a string";
  }
}

Type element_type(Type list) {
  if (list == Type::kIntList) return Type::kInt;
  if (list == Type::kFloatList) return Type::kFloat;
  return Type::kString;
}

bool is_list(Type t) { return t == Type::kIntList || t == Type::kFloatList || t == Type::kStringList; }

class Validator {
 public:
  Validator(const std::string& base_dir, Spec& spec, std::vector<SpecIssue>& issues)
      : base_dir_(base_dir), spec_(spec), issues_(issues) {}

  // `map` is null when the group is absent; `here` is where the group (or its nearest present parent) is.
  void group(const std::vector<Field>& fields, const Node* map, const std::string& prefix, const Location& here) {
    if (map) {
      for (const auto& e : map->entries) {
        if (!find_field(fields, e.key)) {
          issue(e.key_where, join_path(prefix, e.key),
                "unknown key '" + e.key + "'" + did_you_mean(e.key, field_names(fields)));
        }
      }
    }
    for (const auto& f : fields) {
      const Entry* e = map ? map->find(f.name) : nullptr;
      if (e) {
        present(f, e->value, join_path(prefix, f.name));
      } else {
        absent(f, join_path(prefix, f.name), here);
      }
    }
  }

 private:
  void present(const Field& f, const Node& node, const std::string& path) {
    if (f.type == Type::kOneOf) return one_of(f, node, path);
    if (f.type == Type::kGroupList) return group_list(f, node, path);
    if (f.type == Type::kStringMap) return string_map(f, node, path);
    if (f.type == Type::kGroup) {
      if (node.kind != Node::Kind::kMap && node.kind != Node::Kind::kNull) {
        return issue(node.where, path, "expected a group of keys (a map), got " + describe(node));
      }
      spec_.locations_[path] = node.where;
      return group(f.children, node.kind == Node::Kind::kMap ? &node : nullptr, path, node.where);
    }
    if (auto v = leaf(f, node, path)) store(path, std::move(*v), node.where);
  }

  void absent(const Field& f, const std::string& path, const Location& here) {
    if (f.required) return issue(here, path, "missing required key");
    if (f.type == Type::kOneOf) {
      if (!f.default_choice.empty()) choose(f, f.default_choice, nullptr, path, here);
      return;
    }
    if (f.type == Type::kGroup) {
      if (has_required(f)) return;
      spec_.locations_[path] = here;
      return group(f.children, nullptr, path, here);
    }
    if (f.type == Type::kGroupList) return list_size(path, 0, here);
    if (!f.default_value) return;
    Value v = *f.default_value;
    if (f.type == Type::kPath) {
      auto resolved = resolve(f, std::get<std::string>(v), false, here, path);
      if (!resolved) return;
      v = std::move(*resolved);
    }
    store(path, std::move(v), here);
  }

  void one_of(const Field& f, const Node& node, const std::string& path) {
    const std::string options = join(field_names(f.children), ", ");
    switch (node.kind) {
      case Node::Kind::kNull:
        return absent(f, path, node.where);
      case Node::Kind::kScalar:  // shorthand: "optimizer: adam" picks adam with its defaults
        if (find_field(f.children, node.scalar)) return choose(f, node.scalar, nullptr, path, node.where);
        return issue(
            node.where, path,
            "'" + node.scalar + "' is not one of: " + options + did_you_mean(node.scalar, field_names(f.children)));
      case Node::Kind::kList:
        return issue(node.where, path,
                     "expected one of " + options + " (a map such as {" + f.children[0].name + ": {...}}), got a list");
      case Node::Kind::kMap:
        break;
    }
    const Entry* chosen = nullptr;
    for (const auto& e : node.entries) {
      if (!find_field(f.children, e.key)) {
        issue(e.key_where, join_path(path, e.key),
              "unknown key '" + e.key + "'" + did_you_mean(e.key, field_names(f.children)));
      } else if (chosen) {
        issue(e.key_where, path, "give only one of " + options + " (got '" + chosen->key + "' and '" + e.key + "')");
      } else {
        chosen = &e;
      }
    }
    if (!chosen) return absent(f, path, node.where);
    choose(f, chosen->key, &chosen->value, path, chosen->key_where);
  }

  // Every item is checked, even when there are too many or too few, so that all problems show at once.
  void group_list(const Field& f, const Node& node, const std::string& path) {
    if (node.kind != Node::Kind::kList) {
      return issue(node.where, path,
                   "expected a list of groups (one '- key: value' map per item), got " + describe(node));
    }
    check_length(f, node, path, "items");
    list_size(path, node.items.size(), node.where);
    for (size_t i = 0; i < node.items.size(); ++i) {
      const Node& item = node.items[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      if (item.kind != Node::Kind::kMap) {
        issue(item.where, item_path, "expected a group of keys (a map), got " + describe(item));
        continue;
      }
      spec_.locations_[item_path] = item.where;
      group(f.children, &item, item_path, item.where);
    }
  }

  // Any names; each value a scalar, kept as its text. "key:" with nothing after it is an empty map, as for groups.
  void string_map(const Field& f, const Node& node, const std::string& path) {
    if (node.kind != Node::Kind::kMap && node.kind != Node::Kind::kNull) {
      return issue(node.where, path, "expected a map of names to values, got " + describe(node));
    }
    StringMap values;
    bool ok = true;
    for (const auto& e : node.entries) {
      const std::string entry_path = join_path(path, e.key);
      if (std::string problem = f.key_check ? f.key_check(e.key) : ""; !problem.empty()) {
        issue(e.key_where, entry_path, problem);
        ok = false;
      }
      if (e.value.kind != Node::Kind::kScalar) {
        issue(e.value.where, entry_path, "expected a string, got " + describe(e.value));
        ok = false;
        continue;
      }
      values[e.key] = e.value.scalar;
      spec_.locations_[entry_path] = e.key_where;
    }
    if (!ok) return;
    Value v(std::move(values));
    if (f.check) {
      std::string problem = f.check(v);
      if (!problem.empty()) return issue(node.where, path, problem);
    }
    store(path, std::move(v), node.where);
  }

  void choose(const Field& f, const std::string& name, const Node* node, const std::string& path,
              const Location& here) {
    spec_.choices_[path] = name;
    spec_.locations_[path] = here;
    const Field& alternative = *find_field(f.children, name);
    if (node) return present(alternative, *node, join_path(path, name));
    spec_.locations_[join_path(path, name)] = here;
    group(alternative.children, nullptr, join_path(path, name), here);
  }

  std::optional<Value> leaf(const Field& f, const Node& node, const std::string& path) {
    std::optional<Value> v;
    if (!is_list(f.type)) {
      v = element(f, f.type, node, path);
    } else if (node.kind != Node::Kind::kList) {
      issue(node.where, path, std::string("expected ") + expected(f.type) + ", got " + describe(node));
    } else if (check_length(f, node, path)) {
      v = list(f, node, path);
    }
    if (v && f.check) {
      std::string problem = f.check(*v);
      if (!problem.empty()) {
        issue(node.where, path, problem);
        return std::nullopt;
      }
    }
    return v;
  }

  bool check_length(const Field& f, const Node& node, const std::string& path, const char* unit = "values") {
    const size_t n = node.items.size();
    if ((!f.min_len || n >= *f.min_len) && (!f.max_len || n <= *f.max_len)) return true;
    std::string want;
    if (f.min_len && f.max_len) {
      want = std::to_string(*f.min_len) + " to " + std::to_string(*f.max_len);
    } else {
      want = f.min_len ? "at least " + std::to_string(*f.min_len) : "at most " + std::to_string(*f.max_len);
    }
    issue(node.where, path, "expected " + want + " " + unit + ", got " + std::to_string(n));
    return false;
  }

  std::optional<Value> list(const Field& f, const Node& node, const std::string& path) {
    std::vector<int64_t> ints;
    std::vector<double> floats;
    std::vector<std::string> strings;
    bool ok = true;
    for (size_t i = 0; i < node.items.size(); ++i) {
      auto v = element(f, element_type(f.type), node.items[i], path + "[" + std::to_string(i) + "]");
      if (!v) {
        ok = false;
      } else if (auto* x = std::get_if<int64_t>(&*v)) {
        ints.push_back(*x);
      } else if (auto* d = std::get_if<double>(&*v)) {
        floats.push_back(*d);
      } else {
        strings.push_back(std::get<std::string>(*v));
      }
    }
    if (!ok) return std::nullopt;
    if (f.type == Type::kIntList) return Value(std::move(ints));
    if (f.type == Type::kFloatList) return Value(std::move(floats));
    return Value(std::move(strings));
  }

  // One scalar (a key's value or a list element) of type `t`, checked for type, range and choices.
  std::optional<Value> element(const Field& f, Type t, const Node& node, const std::string& path) {
    auto wrong = [&]() -> std::optional<Value> {
      issue(node.where, path, std::string("expected ") + expected(t) + ", got " + describe(node));
      return std::nullopt;
    };
    if (node.kind != Node::Kind::kScalar) return wrong();
    const std::string& s = node.scalar;
    switch (t) {
      case Type::kBool:
        if (node.quoted) return wrong();
        if (s == "true" || s == "True" || s == "TRUE") return Value(true);
        if (s == "false" || s == "False" || s == "FALSE") return Value(false);
        return wrong();
      case Type::kInt: {
        auto v = node.quoted ? std::nullopt : parse_int(s);
        if (!v) return wrong();
        if (!in_range(f, static_cast<double>(*v), std::to_string(*v), node.where, path)) return std::nullopt;
        return Value(*v);
      }
      case Type::kFloat: {
        auto v = node.quoted ? std::nullopt : parse_float(s);
        if (!v) return wrong();
        if (!in_range(f, *v, format_number(*v), node.where, path)) return std::nullopt;
        return Value(*v);
      }
      case Type::kEnum:
        if (std::find(f.choices.begin(), f.choices.end(), s) == f.choices.end()) {
          issue(node.where, path, "'" + s + "' is not one of: " + join(f.choices, ", ") + did_you_mean(s, f.choices));
          return std::nullopt;
        }
        return Value(s);
      case Type::kPath: {
        auto resolved = resolve(f, s, node.from_command_line(), node.where, path);
        if (!resolved) return std::nullopt;
        return Value(std::move(*resolved));
      }
      default:
        return Value(s);
    }
  }

  bool in_range(const Field& f, double v, const std::string& text, const Location& where, const std::string& path) {
    const bool below = f.min && (f.exclusive_min ? v <= *f.min : v < *f.min);
    const bool above = f.max && v > *f.max;
    if (!below && !above) return true;
    issue(where, path, text + " is out of range (must be " + range_text(f.min, f.max, f.exclusive_min) + ")");
    return false;
  }

  // Absolute and normalised, so the runtime never depends on its working directory.
  std::optional<std::string> resolve(const Field& f, const std::string& text, bool from_command_line,
                                     const Location& where, const std::string& path) {
    if (text.empty()) {
      if (f.allow_empty_path) return text;
      issue(where, path, "expected a path, got an empty string");
      return std::nullopt;
    }
    fs::path p(text);
    if (p.is_relative()) p = (from_command_line ? fs::current_path() : fs::path(base_dir_)) / p;
    std::string resolved = p.lexically_normal().string();
    if (resolved.size() > 1 && resolved.back() == '/') resolved.pop_back();
    std::error_code ec;
    if (f.must_exist && !fs::exists(resolved, ec)) {
      issue(where, path, "path does not exist: " + resolved);
      return std::nullopt;
    }
    return resolved;
  }

  void store(const std::string& path, Value v, const Location& where) {
    spec_.values_[path] = std::move(v);
    spec_.order_.push_back(path);
    spec_.locations_[path] = where;
  }

  // In order_ too, so that to_yaml() writes the list where the schema has it.
  void list_size(const std::string& path, size_t size, const Location& where) {
    spec_.list_sizes_[path] = size;
    spec_.order_.push_back(path);
    spec_.locations_[path] = where;
  }

  void issue(const Location& where, const std::string& path, std::string message) {
    issues_.push_back(SpecIssue{where, path, std::move(message)});
  }

  std::string base_dir_;
  Spec& spec_;
  std::vector<SpecIssue>& issues_;
};

}  // namespace

bool has_required(const Field& group) {
  return std::any_of(group.children.begin(), group.children.end(),
                     [](const Field& c) { return c.required || (c.type == Type::kGroup && has_required(c)); });
}

const Field* find_field(const std::vector<Field>& fields, const std::string& name) {
  auto it = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == name; });
  return it == fields.end() ? nullptr : &*it;
}

std::vector<std::string> field_names(const std::vector<Field>& fields) {
  std::vector<std::string> names;
  for (const auto& f : fields) names.push_back(f.name);
  return names;
}

void validate(const Schema& schema, const Node& root, const std::string& base_dir, Spec& spec,
              std::vector<SpecIssue>& issues) {
  Validator(base_dir, spec, issues).group(schema.fields, &root, "", root.where);
}

}  // namespace kiln::specs::detail
