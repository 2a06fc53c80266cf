// Spec loading and validation. A Schema describes every key (type, default, range, doc); load_spec() reads a YAML
// file, applies `key.path=value` overrides, validates everything before anything runs, and either returns a Spec with
// all defaults filled in or throws SpecError listing one problem per line as `file:line:column: key.path: message`.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kiln/common/error.h"

namespace kiln::specs {

struct Location {
  std::string file;  // spec file, or "<command line>" for overrides
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
  std::string str() const;  // "file:line:column" (or "file" when line is 0)
};

struct SpecIssue {
  Location where;
  std::string key_path;  // e.g. "train_config.optimizer.sgd.lr"
  std::string message;   // e.g. "unknown key 'lrr' (did you mean 'lr'?)"
  std::string str() const;  // "<where>: <key_path>: <message>" ("<where>: <message>" when key_path is empty)
};

class SpecError : public UsageError {
 public:
  explicit SpecError(std::vector<SpecIssue> issues);
  // what(): "invalid spec <file>: N problem(s)", then one issue per line.
  SpecError(const std::string& file, std::vector<SpecIssue> issues);
  const std::vector<SpecIssue>& issues() const { return issues_; }

 private:
  std::vector<SpecIssue> issues_;
};

enum class Type {
  kBool, kInt, kFloat, kString, kPath, kEnum, kIntList, kFloatList, kStringList, kGroup, kOneOf,
  kGroupList,  // a list of groups, each item checked against `children` (e.g. a cluster's nodes)
  kStringMap,  // free-form names mapped to scalar values, kept as strings (e.g. environment variables)
};

// A kStringMap's value. Sorted by name, so everything built from it is deterministic.
using StringMap = std::map<std::string, std::string>;

using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                           std::vector<std::string>, StringMap>;

// One key of the schema. Groups hold children; a OneOf group holds alternative child groups of which exactly one
// may be given (e.g. optimizer: {sgd: {...}} | {adam: {...}}, or the shorthand `optimizer: adam`);
// `default_choice` is used when none is given. An absent group gets its defaults, except an optional group with
// required keys (e.g. dataset_config.val), which stays absent as a whole.
// A GroupList's items are groups of `children`, addressed as "nodes[0].host"; an absent optional one is empty.
// A StringMap takes any names; each value must be a scalar and is kept as written ("4", "true").
struct Field {
  std::string name;
  Type type = Type::kString;
  std::string doc;
  std::optional<Value> default_value;  // absent + !required → key simply absent from the Spec
  bool required = false;
  std::optional<double> min, max;      // inclusive range for numbers and for each list element
  bool exclusive_min = false;          // min itself is not allowed (e.g. a learning rate must be > 0)
  std::optional<size_t> min_len, max_len;   // list length limits (also the number of GroupList items)
  std::vector<std::string> choices;    // kEnum
  bool must_exist = false;             // kPath: the file/dir must exist (checked after resolving)
  bool allow_empty_path = true;        // kPath: "" means "not set"
  std::vector<Field> children;         // kGroup / kOneOf / kGroupList (the keys of each item)
  std::string default_choice;          // kOneOf
  // Extra check on a present value (after type/range checks): returns "" when fine, else the message.
  // Not called for groups and group lists (see Schema::check).
  std::function<std::string(const Value&)> check;
  // kStringMap: checks each name (e.g. that it is an environment variable name), reported at the name.
  std::function<std::string(const std::string&)> key_check;
};

// Builder helpers so schemas read like the YAML they describe.
Field boolean(std::string name, bool def, std::string doc);
Field integer(std::string name, std::optional<int64_t> def, std::string doc, std::optional<double> min = {},
              std::optional<double> max = {});
Field real(std::string name, std::optional<double> def, std::string doc, std::optional<double> min = {},
           std::optional<double> max = {});
Field string(std::string name, std::optional<std::string> def, std::string doc);
Field path(std::string name, std::string doc, bool must_exist = true);
Field enumeration(std::string name, std::vector<std::string> choices, std::optional<std::string> def,
                  std::string doc);
Field int_list(std::string name, std::vector<int64_t> def, std::string doc, std::optional<double> min = {},
               std::optional<double> max = {});
Field float_list(std::string name, std::vector<double> def, std::string doc, std::optional<double> min = {},
                 std::optional<double> max = {});
Field group(std::string name, std::vector<Field> children, std::string doc = "");
Field one_of(std::string name, std::vector<Field> alternatives, std::string default_choice, std::string doc = "");
Field group_list(std::string name, std::vector<Field> item_keys, std::string doc = "");  // default: empty
Field string_map(std::string name, std::string doc);                                      // default: empty
Field required(Field f);  // marks a field required (no default)

class Spec;

struct Schema {
  std::string name;            // e.g. "classification"
  std::vector<Field> fields;   // top-level groups
  // Rules that span keys (e.g. no host twice in a list). Runs after the per-key checks on the Spec as far as it
  // could be filled, so its problems are listed with all the others: test with has() before reading a key.
  // Report at spec.location(path).
  std::function<void(const Spec& spec, std::vector<SpecIssue>& issues)> check = {};
};

// A validated spec: every schema key with a value (given or default), addressed by dotted path.
class Spec {
 public:
  bool has(const std::string& path) const;  // a value, or a group list (possibly empty)
  bool get_bool(const std::string& path) const;
  int64_t get_int(const std::string& path) const;
  double get_float(const std::string& path) const;   // ints are accepted for float keys
  const std::string& get_string(const std::string& path) const;  // kString, kEnum and kPath (resolved, absolute)
  const std::vector<int64_t>& get_int_list(const std::string& path) const;
  const std::vector<double>& get_float_list(const std::string& path) const;
  const std::vector<std::string>& get_string_list(const std::string& path) const;
  const StringMap& get_string_map(const std::string& path) const;
  // The number of items of a group list; item i's keys are "<path>[i].<key>".
  size_t count(const std::string& path) const;
  // For a OneOf group: the name of the alternative that was chosen (given or default), e.g. "sgd".
  const std::string& choice(const std::string& path) const;

  // Where a key was set (for error messages raised after validation, e.g. a dataset file that is corrupt).
  Location location(const std::string& path) const;
  const std::string& source_file() const { return source_file_; }

  // The effective spec (defaults filled, overrides applied, paths absolute) as YAML: stored in checkpoints and
  // reloadable with load_spec_text() without the original file.
  std::string to_yaml() const;

  // Internal: filled by the loader.
  std::map<std::string, Value> values_;
  std::map<std::string, std::string> choices_;
  std::map<std::string, Location> locations_;  // also "<map path>.<name>" for each StringMap entry
  std::map<std::string, size_t> list_sizes_;   // group lists
  std::vector<std::string> order_;  // insertion order of value and group list paths, for to_yaml()
  std::string source_file_;
};

// What one spec may cost (docs/specs.md, "Limits"), for the file and for each override value alike. Beyond a
// limit the spec is refused with one issue naming it (SpecError, exit 2) before any YAML node is built, so a
// hostile spec (an alias bomb, a huge list) costs a few MB and milliseconds.
struct SpecLimits {
  static constexpr size_t kMaxBytes = 1 << 20;  // text of a spec file or of one override value
  static constexpr size_t kMaxNodes = 20000;    // YAML nodes (keys, values, items), an alias counting as its copy
  static constexpr int kMaxDepth = 32;          // nesting of maps and lists, aliases expanded
};

// Reads and validates `file`. `overrides` are "key.path=value" strings from the command line (value parsed as YAML
// scalar or flow sequence). Throws SpecError (exit 2) listing every problem; a missing/unreadable file is one issue.
// Overrides are merged into the file's YAML before validation, in order; their relative paths resolve against the
// working directory. Setting a key inside another OneOf alternative than the file's switches to that alternative
// (the file's alternative is dropped). docs/specs.md describes the rules for users.
Spec load_spec(const Schema& schema, const std::string& file, const std::vector<std::string>& overrides = {});

// Same for YAML text; relative paths resolve against base_dir; `display_name` is used in error locations.
Spec load_spec_text(const Schema& schema, const std::string& yaml, const std::string& display_name,
                    const std::string& base_dir, const std::vector<std::string>& overrides = {});

// The same schema with no path required to exist: for subtasks that read only some of a spec's paths (evaluate,
// inference and export take the training spec, whose training data may be on another machine). What a subtask does
// read, it checks with require_existing_paths().
Schema without_path_checks(Schema schema);

// Throws SpecError (exit 2) naming, at its file:line, every key of `keys` that is set to a path that does not exist.
// Keys that are absent or empty are skipped.
void require_existing_paths(const Spec& spec, const std::vector<std::string>& keys);

// Markdown reference of a schema (key, type, default, range, doc) for docs/ and `--help`.
std::string describe_schema(const Schema& schema);

}  // namespace kiln::specs
