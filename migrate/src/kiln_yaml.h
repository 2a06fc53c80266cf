// The kiln spec an import writes: keys set by dotted patterns (with the list items of TAO's repeated messages and
// maps), values formatted as the kiln schema types them, comments above keys; emitted as block YAML in the order
// the keys were first set.
#pragma once
#include <climits>
#include <string>
#include <vector>

#include "kiln/specs/spec.h"
#include "tao_text.h"

namespace kiln::migrate::detail {

class KilnYaml {
 public:
  explicit KilnYaml(const specs::Schema& schema) : schema_(schema) {}

  // Sets the key at `pattern`: "a.b" a key of a map; "a[].b" an item of list a (the next of `subs` is its index);
  // "a{}.b" the item of list a whose `key` is the next of `subs` (TAO's map entries: `- key: car\n value: {b: …}`),
  // and "a{}" last sets that item's value. `line` is the TAO line the value came from (for the block comments).
  void set(const std::string& pattern, const std::vector<std::string>& subs, const std::vector<Scalar>& values,
           int line);
  // An empty map at `pattern` (TAO's `cov {}`), unless it already has keys.
  void set_block(const std::string& pattern, const std::vector<std::string>& subs, int line);
  bool has(const std::string& path) const;  // a plain dotted path ("model_config.use_batch_norm")
  // A comment line written above the key (created empty if it does not exist yet).
  void comment(const std::string& pattern, const std::vector<std::string>& subs, const std::string& text);
  // A comment above everything.
  void header(const std::string& text) { header_.push_back(text); }

  // The YAML text; each top-level group preceded by "# from <file>:<lines> (<tao group>)" when `file` is not empty.
  std::string text(const std::string& file) const;

  // The value as the kiln key's type writes it: integers, floats with a decimal point, true/false, quoted strings,
  // [a, b] for lists.
  static std::string format(const std::vector<Scalar>& values, const specs::Field* field);

 private:
  struct Node {
    std::string key;
    std::string scalar;  // the formatted value of a leaf
    bool leaf = false, list = false;
    std::vector<Node> children;  // a map's keys or a list's items, in the order set
    std::vector<std::string> comments;
    int first_line = INT_MAX, last_line = 0;
    explicit Node(std::string name = "") : key(std::move(name)) {}
    Node* child(const std::string& name);
    void lines(int line);  // widens [first_line, last_line] to a TAO line
    const Node* find(const std::string& name) const;
  };
  Node* at(const std::string& pattern, const std::vector<std::string>& subs, int line, std::string* schema_path);
  void emit(const Node& node, int indent, bool first_of_item, std::string& out) const;

  const specs::Schema& schema_;
  Node root_;
  std::vector<std::string> header_;
};

}  // namespace kiln::migrate::detail
