#include "kiln_yaml.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/specs/lookup.h"

namespace kiln::migrate::detail {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string float_text(double v) {
  std::string s = scalar_text(Scalar{v});
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // a float key's value reads back as a float
  return s;
}

std::string one(const Scalar& v, specs::Type type) {
  using specs::Type;
  switch (type) {
    case Type::kInt:
    case Type::kIntList:
      if (auto d = std::get_if<double>(&v); d && std::floor(*d) == *d) return std::to_string(static_cast<int64_t>(*d));
      break;
    case Type::kFloat:
    case Type::kFloatList:
      if (auto d = std::get_if<double>(&v)) return float_text(*d);
      if (auto i = std::get_if<int64_t>(&v)) return float_text(static_cast<double>(*i));
      break;
    case Type::kString:
    case Type::kPath:
    case Type::kEnum:
    case Type::kStringList:
    case Type::kStringMap:
      return quoted(scalar_text(v));
    default:
      break;
  }
  if (auto s = std::get_if<std::string>(&v)) return quoted(*s);
  return scalar_text(v);
}

std::vector<std::string> split_dots(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  return parts;
}

}  // namespace

std::string KilnYaml::format(const std::vector<Scalar>& values, const specs::Field* field) {
  const specs::Type type = field ? field->type : specs::Type::kString;
  const bool list = type == specs::Type::kIntList || type == specs::Type::kFloatList ||
                    type == specs::Type::kStringList || values.size() != 1;
  if (!list) return one(values.front(), field ? type : specs::Type::kGroup);
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + one(values[i], type);
  return out + "]";
}

KilnYaml::Node* KilnYaml::Node::child(const std::string& name) {
  for (auto& c : children) {
    if (c.key == name) return &c;
  }
  children.push_back(Node{name});
  return &children.back();
}

void KilnYaml::Node::lines(int line) {
  if (line <= 0) return;  // a default or a comment: no TAO line
  first_line = std::min(first_line, line);
  last_line = std::max(last_line, line);
}

const KilnYaml::Node* KilnYaml::Node::find(const std::string& name) const {
  for (const auto& c : children) {
    if (c.key == name) return &c;
  }
  return nullptr;
}

KilnYaml::Node* KilnYaml::at(const std::string& pattern, const std::vector<std::string>& subs, int line,
                             std::string* schema_path) {
  Node* node = &root_;
  size_t sub = 0;
  const auto parts = split_dots(pattern);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string name = parts[i];
    const bool item = name.size() > 2 && name.compare(name.size() - 2, 2, "[]") == 0;
    const bool entry = name.size() > 2 && name.compare(name.size() - 2, 2, "{}") == 0;
    if (item || entry) name.resize(name.size() - 2);
    node = node->child(name);
    node->lines(line);
    *schema_path += (schema_path->empty() ? "" : ".") + name;
    if (!item && !entry) continue;
    if (sub >= subs.size()) throw Error("kiln spec import: pattern " + pattern + " needs more indices");
    node->list = true;
    *schema_path += "[]";
    const std::string& which = subs[sub++];
    if (item) {
      const size_t index = std::stoul(which);
      while (node->children.size() <= index) node->children.push_back(Node{std::to_string(node->children.size())});
      node = &node->children[index];
    } else {
      auto found = std::find_if(node->children.begin(), node->children.end(), [&](const Node& n) {
        const Node* key = n.find("key");
        return key && key->scalar == quoted(which);
      });
      if (found == node->children.end()) {
        node->children.push_back(Node{std::to_string(node->children.size())});
        Node* key = node->children.back().child("key");
        key->leaf = true;
        key->scalar = quoted(which);
        found = node->children.end() - 1;
      }
      node = &*found;
      node = node->child("value");
      *schema_path += ".value";
    }
    node->lines(line);
  }
  return node;
}

void KilnYaml::set(const std::string& pattern, const std::vector<std::string>& subs, const std::vector<Scalar>& values,
                   int line) {
  std::string schema_path;
  Node* node = at(pattern, subs, line, &schema_path);
  node->leaf = true;
  node->children.clear();
  node->scalar = format(values, specs::find_field(schema_, schema_path));
}

void KilnYaml::set_block(const std::string& pattern, const std::vector<std::string>& subs, int line) {
  std::string schema_path;
  at(pattern, subs, line, &schema_path);
}

bool KilnYaml::has(const std::string& path) const {
  const Node* node = &root_;
  for (const std::string& name : split_dots(path)) {
    node = node->find(name);
    if (!node) return false;
  }
  return true;
}

void KilnYaml::comment(const std::string& pattern, const std::vector<std::string>& subs, const std::string& text) {
  std::string schema_path;
  Node* node = at(pattern, subs, 0, &schema_path);
  node->comments.push_back(text);
}

void KilnYaml::emit(const Node& node, int indent, bool first_of_item, std::string& out) const {
  const std::string pad(indent, ' ');
  if (!first_of_item) {  // an item's first key has its comments above the "- " (see below)
    for (const auto& c : node.comments) out += pad + "# " + c + "\n";
  }
  out += (first_of_item ? "" : pad) + node.key + ":";
  if (node.leaf) {
    out += " " + node.scalar + "\n";
  } else if (node.children.empty()) {
    out += node.list ? " []\n" : " {}\n";
  } else if (node.list) {
    out += "\n";
    for (const auto& item : node.children) {
      if (!item.children.empty()) {
        for (const auto& c : item.children.front().comments) out += pad + "  # " + c + "\n";
      }
      out += pad + "  - ";
      if (item.children.empty()) {
        out += "{}\n";
        continue;
      }
      for (size_t i = 0; i < item.children.size(); ++i) emit(item.children[i], indent + 4, i == 0, out);
    }
  } else {
    out += "\n";
    for (const auto& c : node.children) emit(c, indent + 2, false, out);
  }
}

std::string KilnYaml::text(const std::string& file) const {
  std::string out;
  for (const auto& h : header_) out += "# " + h + "\n";
  for (const auto& group : root_.children) {
    out += "\n";
    if (!file.empty() && group.last_line > 0) {
      out += "# from " + file + ":" + std::to_string(group.first_line) +
             (group.last_line > group.first_line ? "-" + std::to_string(group.last_line) : "") + "\n";
    }
    emit(group, 0, false, out);
  }
  return out;
}

}  // namespace kiln::migrate::detail
