// Spec::to_yaml: the effective spec as nested YAML that load_spec_text() reads back to an equal Spec.
#include <yaml-cpp/yaml.h>

#include "kiln/specs/spec.h"
#include "text.h"

namespace kiln::specs {
namespace {

struct OutNode {
  std::string name;
  const Value* value = nullptr;
  std::vector<OutNode> children;

  OutNode& child(const std::string& key) {
    for (auto& c : children) {
      if (c.name == key) return c;
    }
    children.push_back(OutNode{key, nullptr, {}});
    return children.back();
  }
};

OutNode& insert(OutNode& root, const std::string& path) {
  OutNode* node = &root;
  for (const auto& part : detail::split(path, '.')) node = &node->child(part);
  return *node;
}

// Strings are always quoted so that a value such as "true" or "1,28,28" can never change type on reload.
struct ValueEmitter {
  YAML::Emitter& out;
  void operator()(bool b) { out << b; }
  void operator()(int64_t i) { out << std::to_string(i); }
  void operator()(double d) { out << detail::format_float(d); }
  void operator()(const std::string& s) { out << YAML::DoubleQuoted << s; }
  template <typename T>
  void operator()(const std::vector<T>& items) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& item : items) (*this)(item);
    out << YAML::EndSeq;
  }
};

void emit(YAML::Emitter& out, const OutNode& node) {
  if (node.value) return std::visit(ValueEmitter{out}, *node.value);
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
  for (const auto& path : order_) insert(root, path).value = &values_.at(path);
  // A chosen alternative without keys still has to be written, or the reload would pick the default.
  for (const auto& [path, choice] : choices_) insert(root, path + "." + choice);
  YAML::Emitter out;
  emit(out, root);
  return std::string(out.c_str()) + "\n";
}

}  // namespace kiln::specs
