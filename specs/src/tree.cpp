#include "tree.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "limits.h"
#include "text.h"
#include "validate.h"

namespace kiln::specs::detail {
namespace {

Location command_line() { return Location{kCommandLine, 0, 0}; }

Node map_node(const Location& where) { return Node{Node::Kind::kMap, "", false, {}, {}, where}; }
Node null_node(const Location& where) { return Node{Node::Kind::kNull, "", false, {}, {}, where}; }
Node scalar_node(const std::string& text, const Location& where) {
  return Node{Node::Kind::kScalar, text, true, {}, {}, where};
}

// Everything parsed from an override value is located at the command line as a whole.
Location location_of(const YAML::Mark& mark, const std::string& file) {
  if (file == kCommandLine || mark.line < 0) return Location{file, 0, 0};
  return Location{file, mark.line + 1, mark.column + 1};
}

// `path` names the node in messages (e.g. a duplicate key), as the validator would.
Node convert(const YAML::Node& yaml, const std::string& file, const std::string& path, std::vector<SpecIssue>& issues) {
  Node node;
  node.where = location_of(yaml.Mark(), file);
  switch (yaml.Type()) {
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::kScalar;
      node.scalar = yaml.Scalar();
      node.quoted = yaml.Tag() == "!" || yaml.Tag() == "tag:yaml.org,2002:str";
      break;
    case YAML::NodeType::Sequence:
      node.kind = Node::Kind::kList;
      for (const auto& item : yaml) {
        node.items.push_back(convert(item, file, path + "[" + std::to_string(node.items.size()) + "]", issues));
      }
      break;
    case YAML::NodeType::Map:
      node.kind = Node::Kind::kMap;
      for (auto it = yaml.begin(); it != yaml.end(); ++it) {
        Location key_where = location_of(it->first.Mark(), file);
        if (!it->first.IsScalar()) {
          issues.push_back(
              {key_where, path, "keys must be plain names, got " + describe(convert(it->first, file, path, issues))});
          continue;
        }
        const std::string key = it->first.Scalar();
        const std::string key_path = path.empty() ? key : path + "." + key;
        if (node.find(key)) {
          issues.push_back({key_where, key_path, "duplicate key '" + key + "' (it is already set above)"});
          continue;
        }
        Node value = convert(it->second, file, key_path, issues);
        // yaml-cpp marks an empty value ("key:") at the next token, often on a later line; the key is clearer.
        if (value.kind == Node::Kind::kNull) value.where = key_where;
        node.entries.push_back(Entry{key, key_where, std::move(value)});
      }
      break;
    default:
      break;
  }
  return node;
}

// A value as quoted in a message: its first 60 characters.
std::string shortened(const std::string& value) {
  return value.size() <= 60 ? value : value.substr(0, 60) + "... (" + std::to_string(value.size()) + " bytes)";
}

bool is_container(const Field& f) { return f.type == Type::kGroup || f.type == Type::kOneOf; }

// Checks the key against the schema; returns false (with an issue) when it names no settable key.
bool check_override_key(const Schema& schema, const Override& ov, std::vector<SpecIssue>& issues) {
  const std::vector<Field>* level = &schema.fields;
  for (size_t i = 0; i < ov.path.size(); ++i) {
    const std::string& segment = ov.path[i];
    const Field* f = find_field(*level, segment);
    const Field* list = find_field(*level, segment.substr(0, segment.find('[')));
    if (!f && list && list->type == Type::kGroupList) f = list;  // "nodes[0].slots": the list message below
    if (!f) {
      issues.push_back(
          {command_line(), ov.key, "unknown key '" + segment + "'" + did_you_mean(segment, field_names(*level))});
      return false;
    }
    const size_t rest = ov.path.size() - i - 1;
    if (f->type == Type::kGroupList && (rest > 0 || f->name != segment)) {
      issues.push_back(
          {command_line(), ov.key, "'" + f->name + "' is a list; set it as a whole (" + f->name + "=[{...}, {...}])"});
      return false;
    }
    if (f->type == Type::kStringMap && rest == 1) return true;  // "env.NAME=value" sets one entry
    if (f->type == Type::kStringMap && rest > 1) {
      issues.push_back(
          {command_line(), ov.key,
           "'" + segment + "." + ov.path[i + 1] + "' is a single value, it has no key '" + ov.path[i + 2] + "'"});
      return false;
    }
    if (rest > 0 && !is_container(*f)) {
      issues.push_back(
          {command_line(), ov.key, "'" + segment + "' is a single value, it has no key '" + ov.path[i + 1] + "'"});
      return false;
    }
    level = &f->children;
  }
  return true;
}

}  // namespace

Entry* Node::find(const std::string& key) {
  auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.key == key; });
  return it == entries.end() ? nullptr : &*it;
}

const Entry* Node::find(const std::string& key) const { return const_cast<Node*>(this)->find(key); }

std::optional<Node> parse_yaml(const std::string& text, const std::string& file, std::vector<SpecIssue>& issues) {
  if (text.size() > SpecLimits::kMaxBytes) {
    issues.push_back(too_large(file, file == kCommandLine ? "the value" : "the spec file"));
    return std::nullopt;
  }
  if (!within_limits(text, file, issues)) return std::nullopt;
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(text);
  } catch (const YAML::ParserException& e) {
    Location where = location_of(e.mark, file);
    if (where.line == 0 && file != kCommandLine) where = Location{file, 1, 1};
    issues.push_back({where, "", "YAML syntax error: " + e.msg});
    return std::nullopt;
  }
  if (documents.size() > 1) {
    // A second document would otherwise be ignored silently.
    issues.push_back({location_of(documents[1].Mark(), file), "",
                      "a spec holds one YAML document, found " + std::to_string(documents.size())});
  }
  return documents.empty() ? Node{} : convert(documents[0], file, "", issues);
}

std::string describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kNull:
      return "no value";
    case Node::Kind::kList:
      return "a list";
    case Node::Kind::kMap:
      return "a map";
    case Node::Kind::kScalar:
      break;
  }
  return node.quoted ? "\"" + node.scalar + "\" (quoted, so a string)" : "'" + node.scalar + "'";
}

std::optional<Override> parse_override(const Schema& schema, const std::string& text, std::vector<SpecIssue>& issues) {
  const size_t eq = text.find('=');
  Override ov;
  ov.key = text.substr(0, eq);
  ov.path = split(ov.key, '.');
  const bool empty_segment = std::any_of(ov.path.begin(), ov.path.end(), [](auto& s) { return s.empty(); });
  if (eq == std::string::npos || empty_segment) {
    issues.push_back({command_line(), "", "malformed override '" + text + "' (expected key.path=value)"});
    return std::nullopt;
  }
  const std::string value = text.substr(eq + 1);
  if (value.empty()) {
    ov.value = scalar_node("", command_line());
  } else {
    std::vector<SpecIssue> value_issues;
    std::optional<Node> parsed = parse_yaml(value, kCommandLine, value_issues);
    if (!parsed || !value_issues.empty()) {
      const std::string why = value_issues.empty() ? "" : ": " + value_issues.front().message;
      issues.push_back({command_line(), ov.key, "cannot parse value '" + shortened(value) + "'" + why});
      return std::nullopt;
    }
    ov.value = std::move(*parsed);
  }
  if (!check_override_key(schema, ov, issues)) return std::nullopt;
  return ov;
}

void apply_override(const Schema& schema, const Override& ov, Node& root) {
  Node* node = &root;
  const std::vector<Field>* level = &schema.fields;
  const Field* parent = nullptr;
  for (size_t i = 0; i < ov.path.size(); ++i) {
    const std::string& segment = ov.path[i];
    if (parent && parent->type == Type::kOneOf) {
      auto other_alternative = [&](const Entry& e) { return e.key != segment && find_field(*level, e.key); };
      auto& entries = node->entries;
      entries.erase(std::remove_if(entries.begin(), entries.end(), other_alternative), entries.end());
    }
    Entry* entry = node->find(segment);
    if (i + 1 == ov.path.size()) {
      if (entry) {
        entry->value = ov.value;
      } else {
        node->entries.push_back(Entry{segment, command_line(), ov.value});
      }
      return;
    }
    const Field* field = find_field(*level, segment);
    if (!entry) {
      node->entries.push_back(Entry{segment, command_line(), map_node(command_line())});
      entry = &node->entries.back();
    } else if (entry->value.kind != Node::Kind::kMap) {
      Node map = map_node(command_line());
      // "optimizer: adam" (shorthand for a OneOf) becomes {adam: {}} so its alternative can be kept or dropped.
      if (field->type == Type::kOneOf && entry->value.kind == Node::Kind::kScalar) {
        map.where = entry->value.where;
        map.entries.push_back(Entry{entry->value.scalar, entry->value.where, null_node(entry->value.where)});
      }
      entry->value = std::move(map);
    }
    node = &entry->value;
    parent = field;
    level = &field->children;
  }
}

}  // namespace kiln::specs::detail
