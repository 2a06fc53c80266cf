// load_spec / load_spec_text: parse, merge overrides, validate, and report every problem at once.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "kiln/specs/spec.h"
#include "text.h"
#include "tree.h"
#include "validate.h"

namespace kiln::specs {
namespace {

namespace fs = std::filesystem;

// The override (by position) that a validation issue from the command line is about: the last one whose key is
// the issue's key or a parent of it. Issues that match none (a required key missing in a map an override created)
// go last.
size_t override_rank(const SpecIssue& issue, const std::vector<detail::Override>& parsed) {
  for (size_t i = parsed.size(); i-- > 0;) {
    const std::string& k = parsed[i].key;
    const std::string& p = issue.key_path;
    if (p.compare(0, k.size(), k) == 0 && (p.size() == k.size() || p[k.size()] == '.' || p[k.size()] == '[')) {
      return parsed[i].index;
    }
  }
  return std::numeric_limits<size_t>::max();
}

// File problems in document order, then the command line's in the order the overrides were given.
// `ranks[i]` is the override index of a command-line issue.
void sort_issues(std::vector<SpecIssue>& issues, const std::vector<size_t>& ranks) {
  std::vector<size_t> order(issues.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key = [&](size_t i) {
    const Location& w = issues[i].where;
    const bool command_line = w.file == detail::kCommandLine;
    return std::make_tuple(command_line, command_line ? ranks[i] : 0, w.line, w.column);
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  std::vector<SpecIssue> sorted;
  for (size_t i : order) sorted.push_back(std::move(issues[i]));
  issues = std::move(sorted);
}

// TAO's own spec files are protobuf text, which a YAML parser rejects with a puzzling message: say what it is.
void explain_protobuf_text(const std::string& text, const std::string& file, std::vector<SpecIssue>& issues) {
  const size_t line = detail::protobuf_text_line(text);
  if (line == 0 || issues.empty()) return;
  issues.back() = SpecIssue{Location{file, static_cast<int>(line), 1}, "",
                            "this is a TAO spec in protobuf text format (`name { ... }` blocks); kiln reads the same "
                            "keys written as YAML: `name:` with the block's keys indented below it, and `key: value` "
                            "lines as they are (docs/specs.md, \"From a TAO spec file\")"};
}

[[noreturn]] void unreadable(const std::string& file, const std::string& why) {
  throw SpecError(file, {SpecIssue{Location{file, 0, 0}, "", why}});
}

}  // namespace

Spec load_spec_text(const Schema& schema, const std::string& yaml, const std::string& display_name,
                    const std::string& base_dir, const std::vector<std::string>& overrides) {
  std::vector<SpecIssue> issues;
  std::optional<detail::Node> root = detail::parse_yaml(yaml, display_name, issues);
  if (!root) explain_protobuf_text(yaml, display_name, issues);
  std::vector<size_t> ranks(issues.size(), 0);
  std::vector<detail::Override> parsed;
  for (size_t i = 0; i < overrides.size(); ++i) {
    auto ov = detail::parse_override(schema, overrides[i], issues);
    ranks.resize(issues.size(), i);
    if (ov) {
      ov->index = i;
      parsed.push_back(std::move(*ov));
    }
  }
  Spec spec;
  spec.source_file_ = display_name;
  if (root && root->kind == detail::Node::Kind::kNull) {  // an empty file: every key takes its default
    root->kind = detail::Node::Kind::kMap;
    root->where = Location{display_name, 1, 1};
  }
  if (root && root->kind != detail::Node::Kind::kMap) {
    issues.push_back({root->where, "",
                      "expected a map of groups (" + detail::join(detail::field_names(schema.fields), ", ") +
                          ") at the top level, got " + detail::describe(*root)});
  } else if (root) {
    for (const auto& ov : parsed) detail::apply_override(schema, ov, *root);
    const std::string base =
        fs::absolute(base_dir.empty() ? fs::current_path() : fs::path(base_dir)).lexically_normal();
    detail::validate(schema, *root, base, spec, issues);
    if (schema.check) schema.check(spec, issues);
  }
  if (!issues.empty()) {
    for (size_t i = ranks.size(); i < issues.size(); ++i) ranks.push_back(override_rank(issues[i], parsed));
    sort_issues(issues, ranks);
    throw SpecError(display_name, std::move(issues));
  }
  return spec;
}

Spec load_spec(const Schema& schema, const std::string& file, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!fs::exists(file, ec)) unreadable(file, "spec file not found");
  if (fs::is_directory(file, ec)) unreadable(file, "is a directory, not a spec file");
  std::ifstream in(file, std::ios::binary);
  if (!in) unreadable(file, std::string("cannot read spec file: ") + std::strerror(errno));
  // One byte past the limit is enough to refuse it (the parser says so), and /dev/zero is not read forever.
  std::string text(SpecLimits::kMaxBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) unreadable(file, std::string("cannot read spec file: ") + std::strerror(errno));
  text.resize(static_cast<size_t>(in.gcount()));
  const fs::path dir = fs::absolute(fs::path(file)).parent_path();
  return load_spec_text(schema, text, file, dir.string(), overrides);
}

}  // namespace kiln::specs
