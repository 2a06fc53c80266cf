// The YAML document as a plain tree with a Location on every node. The file and the command-line overrides are
// merged in this tree before validation, and every issue still points at where its text came from.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::specs::detail {

inline const char* const kCommandLine = "<command line>";

struct Entry;

struct Node {
  enum class Kind { kNull, kScalar, kList, kMap };
  Kind kind = Kind::kNull;
  std::string scalar;
  bool quoted = false;         // quoted (or !!str) scalars are strings, never numbers or bools
  std::vector<Node> items;     // kList
  std::vector<Entry> entries;  // kMap, in document order
  Location where;

  Entry* find(const std::string& key);
  const Entry* find(const std::string& key) const;
  bool from_command_line() const { return where.file == kCommandLine; }
};

struct Entry {
  std::string key;
  Location key_where;
  Node value;
};

// Parses a YAML document. A syntax error becomes one issue (with the parser's location) and returns nullopt;
// duplicate keys and non-scalar keys are reported too (the first occurrence is kept).
std::optional<Node> parse_yaml(const std::string& text, const std::string& file, std::vector<SpecIssue>& issues);

// How a node reads in "expected X, got <describe>" messages.
std::string describe(const Node& node);

struct Override {
  std::string key;                // as typed, e.g. "train_config.optimizer.adam.beta_1"
  std::vector<std::string> path;  // the key split at '.'
  Node value;
  size_t index = 0;  // position on the command line, so issues are listed in that order
};

// Parses "key.path=value" (the value as YAML; an empty value is the empty string) and checks the key against the
// schema, so an unknown key is reported with a suggestion. Returns nullopt (with an issue) when it is not valid.
std::optional<Override> parse_override(const Schema& schema, const std::string& text, std::vector<SpecIssue>& issues);

// Writes an override into `root` (a map), creating maps on the way. Entering a OneOf alternative drops the
// alternatives the file gave, so `optimizer.adam.beta_1=0.8` switches a file's sgd to adam.
void apply_override(const Schema& schema, const Override& ov, Node& root);

}  // namespace kiln::specs::detail
