#include "tao_text.h"

#include <algorithm>
#include <charconv>
#include <deque>
#include <memory>
#include <regex>

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>

#include "kiln/specs/lookup.h"

namespace kiln::migrate::detail {
namespace {

namespace pb = google::protobuf;

// TextFormat's and the tokenizer's errors and warnings, as issues at file:line:column (theirs are 0-based).
class IssueCollector : public pb::io::ErrorCollector {
 public:
  explicit IssueCollector(std::string file) : file_(std::move(file)) {}
  void AddError(int line, int column, const std::string& message) override { add(line, column, message, false); }
  void AddWarning(int line, int column, const std::string& message) override { add(line, column, message, true); }

  struct Raw {
    specs::Location where;
    std::string message;
    bool warning;
  };
  std::vector<Raw> raw;

 private:
  void add(int line, int column, const std::string& message, bool warning) {
    raw.push_back({specs::Location{file_, line + 1, column + 1}, message, warning});
  }
  std::string file_;
};

std::string float_text(float v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back as this float
  return std::string(buf, res.ptr);
}

Scalar scalar_of(const pb::Message& m, const pb::FieldDescriptor& f, int index) {
  const pb::Reflection& r = *m.GetReflection();
  const bool rep = f.is_repeated();
  switch (f.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL: return rep ? r.GetRepeatedBool(m, &f, index) : r.GetBool(m, &f);
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return int64_t{rep ? r.GetRepeatedInt32(m, &f, index) : r.GetInt32(m, &f)};
    case pb::FieldDescriptor::CPPTYPE_INT64: return int64_t{rep ? r.GetRepeatedInt64(m, &f, index) : r.GetInt64(m, &f)};
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return int64_t{rep ? r.GetRepeatedUInt32(m, &f, index) : r.GetUInt32(m, &f)};
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return static_cast<int64_t>(rep ? r.GetRepeatedUInt64(m, &f, index) : r.GetUInt64(m, &f));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      // A float field holds 0.1 as 0.100000001...: keep the decimal the user wrote.
      return std::stod(float_text(rep ? r.GetRepeatedFloat(m, &f, index) : r.GetFloat(m, &f)));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r.GetRepeatedDouble(m, &f, index) : r.GetDouble(m, &f);
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r.GetRepeatedEnum(m, &f, index) : r.GetEnum(m, &f))->name();
    case pb::FieldDescriptor::CPPTYPE_STRING: return rep ? r.GetRepeatedString(m, &f, index) : r.GetString(m, &f);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: break;
  }
  return std::string();
}

struct Walk {
  std::string file;
  std::vector<TaoEntry>& out;

  specs::Location at(const pb::TextFormat::ParseLocation& loc) const {
    return specs::Location{file, loc.line + 1, loc.column + 1};
  }

  struct Prefix {
    std::string path, pattern;
    std::vector<std::string> subs;
    Prefix then(const std::string& name, const std::string& sub, const char* marker) const {
      Prefix p{path.empty() ? name : path + "." + name, pattern.empty() ? name : pattern + "." + name, subs};
      if (marker) {
        p.path += "[" + sub + "]";
        p.pattern += marker;
        p.subs.push_back(sub);
      }
      return p;
    }
  };

  // One message as written: every field that has a location in `tree` (so keys set to their default value count
  // too, which proto3's reflection would not list).
  void message(const pb::Message& m, const pb::TextFormat::ParseInfoTree& tree, const Prefix& prefix,
               const specs::Location& where) {
    const size_t before = out.size();
    const pb::Descriptor& d = *m.GetDescriptor();
    for (int i = 0; i < d.field_count(); ++i) field(m, *d.field(i), tree, prefix);
    if (out.size() == before && !prefix.path.empty()) {  // `cov {}`: the block itself is the key
      TaoEntry e{prefix.path, prefix.pattern, prefix.subs, where, nullptr, {}, true};
      out.push_back(std::move(e));
    }
  }

  void field(const pb::Message& m, const pb::FieldDescriptor& f, const pb::TextFormat::ParseInfoTree& tree,
             const Prefix& prefix) {
    const pb::Reflection& r = *m.GetReflection();
    if (!f.is_repeated()) {
      const auto loc = tree.GetLocation(&f, -1);
      if (loc.line < 0) return;
      if (f.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        const auto* nested = tree.GetTreeForNested(&f, -1);
        const Prefix p = prefix.then(f.name(), "", nullptr);
        if (nested) return message(r.GetMessage(m, &f), *nested, p, at(loc));
        return message(r.GetMessage(m, &f), pb::TextFormat::ParseInfoTree(), p, at(loc));
      }
      out.push_back(TaoEntry{prefix.then(f.name(), "", nullptr).path, prefix.then(f.name(), "", nullptr).pattern,
                             prefix.subs, at(loc), &f, {scalar_of(m, f, 0)}, false});
      return;
    }
    const int n = r.FieldSize(m, &f);
    if (n == 0) return;
    if (f.cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {  // repeated scalars: one key, all its values
      TaoEntry e{prefix.then(f.name(), "", nullptr).path, prefix.then(f.name(), "", nullptr).pattern, prefix.subs,
                 at(tree.GetLocation(&f, 0)), &f, {}, false};
      for (int i = 0; i < n; ++i) e.values.push_back(scalar_of(m, f, i));
      out.push_back(std::move(e));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const pb::Message& item = r.GetRepeatedMessage(m, &f, i);
      const auto loc = tree.GetLocation(&f, i);
      const auto* nested = tree.GetTreeForNested(&f, i);
      const pb::TextFormat::ParseInfoTree empty;
      if (!f.is_map()) {
        message(item, nested ? *nested : empty, prefix.then(f.name(), std::to_string(i), "[]"), at(loc));
        continue;
      }
      const pb::FieldDescriptor& key = *f.message_type()->map_key();
      const pb::FieldDescriptor& value = *f.message_type()->map_value();
      const Prefix p = prefix.then(f.name(), scalar_text(scalar_of(item, key, 0)), "{}");
      if (value.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
        const auto* value_tree = nested ? nested->GetTreeForNested(&value, -1) : nullptr;
        message(item.GetReflection()->GetMessage(item, &value), value_tree ? *value_tree : empty, p, at(loc));
      } else {
        out.push_back(TaoEntry{p.path, p.pattern, p.subs, at(loc), &value, {scalar_of(item, value, 0)}, false});
      }
    }
  }
};

// Where a message type is used, as a key path from `root` ("train_config.optimizer"): for naming the block in which
// an unknown key was found. The first path found breadth-first; "" for the root itself.
std::string path_of_type(const pb::Descriptor& root, const std::string& full_name) {
  std::deque<std::pair<const pb::Descriptor*, std::string>> queue{{&root, ""}};
  for (size_t seen = 0; !queue.empty() && seen < 10000; ++seen) {
    auto [d, path] = queue.front();
    queue.pop_front();
    if (d->full_name() == full_name) return path;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
      const pb::Descriptor* t = f->message_type();
      if (f->is_map()) t = t->map_value()->message_type();
      if (t) queue.emplace_back(t, path.empty() ? f->name() : path + "." + f->name());
    }
  }
  return "";
}

std::vector<std::string> field_names(const pb::Descriptor& d) {
  std::vector<std::string> names;
  for (int i = 0; i < d.field_count(); ++i) names.push_back(d.field(i)->name());
  return names;
}

// TextFormat's "Message type "kiln.tao.x.TrainConfig" has no field named "optimzer"." as kiln says it.
// TextFormat reports an unknown key at the token after it; kiln points at the key itself.
specs::Location at_key(const std::string& text, specs::Location where, const std::string& key) {
  size_t start = 0;
  for (int line = 1; line < where.line && start != std::string::npos; ++line) {
    start = text.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  if (start == std::string::npos || where.column < 1) return where;
  const size_t found = text.rfind(key, start + static_cast<size_t>(where.column) - 1);
  if (found != std::string::npos && found >= start) where.column = static_cast<int>(found - start) + 1;
  return where;
}

std::optional<specs::SpecIssue> unknown_key(const pb::Descriptor& root, const std::string& text,
                                            const IssueCollector::Raw& raw) {
  static const std::regex pattern(R"re(Message type "([^"]+)" has no field named "([^"]+)")re");
  std::smatch m;
  if (!std::regex_search(raw.message, m, pattern)) return std::nullopt;
  const pb::Descriptor* parent = root.file()->pool()->FindMessageTypeByName(m[1]);
  const std::string block = parent ? path_of_type(root, parent->full_name()) : "";
  const std::string key = m[2];
  std::string message = "unknown key '" + key + "'" + (block.empty() ? "" : " in " + block);
  if (parent) message += specs::suggest(key, field_names(*parent));
  return specs::SpecIssue{at_key(text, raw.where, key), block.empty() ? key : block + "." + key, message};
}

}  // namespace

std::string scalar_text(const Scalar& value) {
  struct {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[64];
      auto res = std::to_chars(buf, buf + sizeof buf, d);
      return std::string(buf, res.ptr);
    }
    std::string operator()(const std::string& s) const { return s; }
  } text;
  return std::visit(text, value);
}

std::vector<std::pair<std::string, specs::Location>> top_level_keys(const std::string& file, const std::string& text) {
  pb::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
  IssueCollector errors(file);
  pb::io::Tokenizer tokens(&input, &errors);
  tokens.set_comment_style(pb::io::Tokenizer::SH_COMMENT_STYLE);
  std::vector<std::pair<std::string, specs::Location>> keys;
  int depth = 0;
  std::optional<pb::io::Tokenizer::Token> pending;  // an identifier at depth 0, a key if ':' or '{' follows
  while (tokens.Next()) {
    const auto& t = tokens.current();
    if (pending && (t.text == ":" || t.text == "{" || t.text == "<")) {
      keys.emplace_back(pending->text, specs::Location{file, pending->line + 1, pending->column + 1});
    }
    pending.reset();
    if (t.text == "{" || t.text == "<") ++depth;
    if (t.text == "}" || t.text == ">") --depth;
    if (depth == 0 && t.type == pb::io::Tokenizer::TYPE_IDENTIFIER) pending = t;
  }
  if (!errors.raw.empty()) {
    std::vector<specs::SpecIssue> issues;
    for (const auto& e : errors.raw) issues.push_back({e.where, "", "not protobuf text format: " + e.message});
    throw specs::SpecError(file, issues);
  }
  return keys;
}

std::vector<TaoEntry> read_tao_text(const std::string& file, const std::string& text, const pb::Descriptor& root) {
  pb::DynamicMessageFactory factory;
  std::unique_ptr<pb::Message> message(factory.GetPrototype(&root)->New());
  pb::TextFormat::Parser parser;
  IssueCollector collector(file);
  pb::TextFormat::ParseInfoTree tree;
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  parser.AllowUnknownField(true);  // reported below, every one of them, rather than stopping at the first
  const bool parsed = parser.ParseFromString(text, message.get());
  std::vector<specs::SpecIssue> issues;
  for (const auto& raw : collector.raw) {
    if (auto unknown = unknown_key(root, text, raw)) {
      issues.push_back(*unknown);
    } else if (!raw.warning) {
      issues.push_back({raw.where, "", raw.message});
    }
  }
  if (!parsed && issues.empty()) issues.push_back({specs::Location{file, 0, 0}, "", "not a valid protobuf text file"});
  if (!issues.empty()) throw specs::SpecError(file, issues);
  std::vector<TaoEntry> entries;
  Walk{file, entries}.message(*message, tree, {}, specs::Location{file, 1, 1});
  std::stable_sort(entries.begin(), entries.end(), [](const TaoEntry& a, const TaoEntry& b) {
    return std::make_pair(a.where.line, a.where.column) < std::make_pair(b.where.line, b.where.column);
  });
  return entries;
}

}  // namespace kiln::migrate::detail
