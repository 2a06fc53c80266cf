// Spec::to_yaml: the effective spec as nested YAML that load_spec_text() reads back to an equal Spec.
#include <yaml-cpp/yaml.h>

#include "kiln/specs/spec.h"
#include "text.h"

namespace kiln::specs {
namespace {

struct OutNode {
  std::string name;
  const Value* value = nullptr;
  bool list = false;  // a group list: children are its items, in order
  std::vector<OutNode> children;

  OutNode& child(const std::string& key) {
    for (auto& c : children) {
      if (c.name == key) return c;
    }
    children.push_back(OutNode{key, nullptr, false, {}});
    return children.back();
  }

  OutNode& item(size_t index) {
    list = true;
    while (children.size() <= index) children.push_back(OutNode{std::to_string(children.size()), nullptr, false, {}});
    return children[index];
  }
};

// "nodes[1].host" → root["nodes"] item 1 → "host".
OutNode& insert(OutNode& root, const std::string& path) {
  OutNode* node = &root;
  for (const auto& part : detail::split(path, '.')) {
    const size_t bracket = part.find('[');
    node = &node->child(part.substr(0, bracket));
    if (bracket != std::string::npos) node = &node->item(std::stoul(part.substr(bracket + 1)));
  }
  return *node;
}

// Strings are always quoted so that a value such as "true" or "1,28,28" can never change type on reload.
struct ValueEmitter {
  YAML::Emitter& out;
  void operator()(bool b) { out << b; }
  void operator()(int64_t i) { out << std::to_string(i); }
  void operator()(double d) { out << detail::format_float(d); }
  void operator()(const std::string& s) { out << YAML::DoubleQuoted << s; }
  void operator()(const StringMap& entries) {
    out << YAML::Flow << YAML::BeginMap;
    for (const auto& [name, value] : entries) out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << value;
    out << YAML::EndMap;
  }
  template <typename T>
  void operator()(const std::vector<T>& items) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : items) (*this)(item);
    out << YAML::EndSeq;
  }
};

void emit(YAML::Emitter& out, const OutNode& node) {
  if (node.value) return std::visit(ValueEmitter{out}, *node.value);
  if (node.list) {
    if (node.children.empty()) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& item : node.children) emit(out, item);
    out << YAML::EndSeq;
    return;
  }
  out << YAML::BeginMap;
  for (const auto& c : node.children) {
    out << YAML::Key << c.name << YAML::Value;
    emit(out, c);
  }
  out << YAML::EndMap;
}

}  // namespace

std::string Spec::to_yaml() const {
  OutNode root;
  for (const auto& path : order_) {
    OutNode& node = insert(root, path);
    auto list = list_sizes_.find(path);
    if (list == list_sizes_.end()) {
      node.value = &values_.at(path);
    } else {  // created with all its items, so that empty lists and items without keys are written too
      node.list = true;
      if (list->second > 0) node.item(list->second - 1);
    }
  }
  // A chosen alternative without keys still has to be written, or the reload would pick the default.
  for (const auto& [path, choice] : choices_) insert(root, path + "." + choice);
  YAML::Emitter out;
  emit(out, root);
  return std::string(out.c_str()) + "\n";
}

}  // namespace kiln::specs
