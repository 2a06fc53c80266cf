// import_tao_spec: which TAO spec a file is, its keys read, each one mapped by its profile's rule (or to the kiln
// key of the same name), TAO's defaults where kiln's differ, and the result validated as kiln will read it.
#include "kiln/migrate/tao_import.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/specs/lookup.h"
#include "profile.h"

namespace kiln::migrate {
namespace detail {
namespace {

namespace pb = google::protobuf;

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// "a{}.b" → "a[].value.b" and "a{}" → "a[].value": where a TAO map entry's parts sit in kiln's {key, value} lists.
std::string schema_path(std::string pattern) {
  for (size_t at; (at = pattern.find("{}")) != std::string::npos;) pattern.replace(at, 2, "[].value");
  return pattern;
}

bool is_group(const specs::Field& f) {
  return f.type == specs::Type::kGroup || f.type == specs::Type::kOneOf || f.type == specs::Type::kGroupList;
}

const Rule* find_rule(const Profile& profile, const std::string& pattern) {
  const Rule* best = nullptr;
  for (const auto& rule : profile.rules) {
    if (rule.tao == pattern) return &rule;
    if (!ends_with(rule.tao, ".*")) continue;
    const std::string block = rule.tao.substr(0, rule.tao.size() - 2);
    if ((pattern == block || pattern.rfind(block + ".", 0) == 0) && (!best || rule.tao.size() > best->tao.size())) {
      best = &rule;
    }
  }
  return best;
}

// A TAO map of scalars that kiln keeps as a YAML map (`target_class_mapping: {car: car}`): the pattern "x{}".
bool is_string_map(const Profile& profile, const std::string& pattern) {
  if (!ends_with(pattern, "{}") || pattern.find("{}") != pattern.size() - 2 || pattern.find("[]") != std::string::npos) {
    return false;
  }
  const specs::Field* f = specs::find_field(*profile.schema, pattern.substr(0, pattern.size() - 2));
  return f && f->type == specs::Type::kStringMap;
}

// The verdict for a key pattern before any value is seen: its rule's, else the same key when kiln's schema has it.
Verdict classify(const Profile& profile, const std::string& pattern, bool block) {
  if (const Rule* rule = find_rule(profile, pattern)) return rule->verdict;
  if (is_string_map(profile, pattern)) return {Outcome::kMapped, pattern, ""};
  const specs::Field* f = specs::find_field(*profile.schema, schema_path(pattern));
  if (f && is_group(*f) == block) return {Outcome::kMapped, pattern, ""};
  return {Outcome::kUnsupported, "", "kiln's " + profile.schema->name + " spec has no such key"};
}

void write_at(const TaoEntry& e, const std::string& kiln, KilnYaml& out) {
  if (e.block) return out.set_block(kiln, e.subs, e.where.line);
  out.set(kiln, e.subs, e.values, e.where.line);
}

Verdict apply(const Profile& profile, const TaoEntry& e, Context& context) {
  const Rule* rule = find_rule(profile, e.pattern);
  if (rule && rule->write) return rule->write(e, rule->verdict, context);
  Verdict v = classify(profile, e.pattern, e.block);
  if (is_string_map(profile, v.kiln)) {
    v.kiln = v.kiln.substr(0, v.kiln.size() - 2) + "." + e.subs.back();
    context.out.set(v.kiln, {}, e.values, e.where.line);
  } else if (v.outcome != Outcome::kUnsupported && !v.kiln.empty()) {
    write_at(e, v.kiln, context.out);
  }
  return v;
}

// A kiln key pattern with the entry's indices and map keys put in: "a[].b" → "a[0].b", "a{}.c" → "a[car].c".
std::string concrete(const std::string& pattern, const std::vector<std::string>& subs) {
  std::string out;
  size_t sub = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const bool marker = i + 1 < pattern.size() && (pattern.compare(i, 2, "[]") == 0 || pattern.compare(i, 2, "{}") == 0);
    if (!marker || sub >= subs.size()) {
      out += pattern[i];
      continue;
    }
    out += "[" + subs[sub++] + "]";
    ++i;
  }
  return out;
}

// The kiln keys whose default differs from TAO's, set to TAO's where the input left them unset.
void write_tao_defaults(const Profile& profile, KilnYaml& out, std::vector<std::string>& written) {
  for (const auto& d : profile.defaults) {
    if (out.has(d.kiln)) continue;
    out.set(d.kiln, {}, d.value, 0);
    out.comment(d.kiln, {}, "TAO's default, which the TAO spec relied on: " + d.why);
    written.push_back(d.kiln);
  }
}

// The header's list of what was not carried over, each key with its line.
void list_unsupported(const Imported& result, const std::string& source, KilnYaml& out) {
  if (result.count(Outcome::kUnsupported) == 0) return;
  out.header("");
  out.header("Not carried over (kiln has no counterpart; the import's table says why):");
  for (const auto& k : result.keys) {
    if (k.outcome == Outcome::kUnsupported) {
      out.header("  " + k.tao_key + " (" + source + ":" + std::to_string(k.where.line) + ")");
    }
  }
}

std::vector<Profile> all_profiles() {
  return {classification_profile(), detectnet_v2_train_profile(), detectnet_v2_convert_profile(),
          detectnet_v2_inference_profile()};
}

std::string names_of(const pb::Descriptor& d) {
  std::string out;
  for (int i = 0; i < d.field_count(); ++i) out += (i ? ", " : "") + d.field(i)->name();
  return out;
}

const Profile& pick(const std::vector<Profile>& profiles, Network network, Kind kind,
                    const std::vector<std::pair<std::string, specs::Location>>& keys, const std::string& file) {
  const Profile* best = nullptr;
  size_t best_score = 0;
  std::string known;
  for (const auto& p : profiles) {
    if ((network != Network::kAuto && p.network != network) || (kind != Kind::kAuto && p.kind != kind)) continue;
    known += std::string(known.empty() ? "" : "; ") + name_of(p.network) + " " + name_of(p.kind) + ": " +
             names_of(*p.tao);
    size_t score = 0;
    for (const auto& k : keys) score += p.tao->FindFieldByName(k.first) ? 1 : 0;
    if (!best || score > best_score) best = &p, best_score = score;
  }
  if (!best) {
    throw UsageError(std::string("kiln spec import: there is no ") + name_of(kind) + " spec for " + name_of(network) +
                     " (TAO's classification has one experiment spec for train, retrain and evaluate)");
  }
  if (keys.empty()) throw specs::SpecError(file, {{specs::Location{file, 0, 0}, "", "no keys: not a TAO spec"}});
  if (best_score == 0) {
    throw specs::SpecError(file, {{keys.front().second, keys.front().first,
                                   "not a top-level key of any TAO spec kiln imports (" + known + ")"}});
  }
  return *best;
}

std::string read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw specs::SpecError(file, {{specs::Location{file, 0, 0}, "", "cannot read the file"}});
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every key pattern of a message, as the reader names them ("a[].b", "a{}.c", "a{}"), for the reference tables.
void leaf_patterns(const pb::Descriptor& d, const std::string& prefix, int depth, std::vector<std::string>& out) {
  for (int i = 0; i < d.field_count() && depth < 12; ++i) {
    const pb::FieldDescriptor& f = *d.field(i);
    std::string path = prefix.empty() ? f.name() : prefix + "." + f.name();
    const pb::Descriptor* nested = f.message_type();
    if (f.is_map()) {
      path += "{}";
      nested = f.message_type()->map_value()->message_type();
    } else if (f.is_repeated() && nested) {
      path += "[]";
    }
    if (nested) {
      leaf_patterns(*nested, path, depth + 1, out);
    } else {
      out.push_back(path);
    }
  }
}

std::string cell(std::string text) {
  for (size_t at = 0; (at = text.find('|', at)) != std::string::npos; at += 2) text.replace(at, 1, "\\|");
  return text;
}

}  // namespace

const TaoEntry* Context::find(const std::string& pattern) const {
  for (const auto& e : entries) {
    if (e.pattern == pattern) return &e;
  }
  return nullptr;
}

Rule same(std::string tao_and_kiln, std::string note) {
  std::string kiln = tao_and_kiln;
  return Rule{std::move(tao_and_kiln), {Outcome::kMapped, std::move(kiln), std::move(note)}};
}

Rule renamed(std::string tao, std::string kiln, std::string note) {
  return Rule{std::move(tao), {Outcome::kMapped, std::move(kiln), std::move(note)}};
}

Rule changed(std::string tao, std::string kiln, std::string note, Writer write) {
  return Rule{std::move(tao), {Outcome::kChanged, std::move(kiln), std::move(note)}, std::move(write)};
}

Rule unsupported(std::string tao, std::string why) {
  return Rule{std::move(tao), {Outcome::kUnsupported, "", std::move(why)}};
}

void write_entry(const TaoEntry& e, const std::string& kiln, KilnYaml& out) { write_at(e, kiln, out); }

}  // namespace detail

Imported import_tao_spec(const std::string& file, Network network, Kind kind, const std::string& output_dir) {
  using namespace detail;
  const std::string text = read_file(file);
  const auto profiles = all_profiles();
  const auto top_level = top_level_keys(file, text);  // named: GCC 14 takes a temporary argument for a dangling risk
  const Profile& profile = pick(profiles, network, kind, top_level, file);
  const std::vector<TaoEntry> entries = read_tao_text(file, text, *profile.tao);

  Imported result;
  result.network = profile.network;
  result.kind = profile.kind;
  result.schema = profile.schema->name;
  KilnYaml out(*profile.schema);
  const std::string source = std::filesystem::path(file).filename().string();
  out.header("kiln " + result.schema + " spec, converted from TAO's " + name_of(profile.network) + " " +
             name_of(profile.kind) + " spec " + source + " by `kiln spec import`.");
  out.header("Use it with: " + profile.command);
  Context context{out, entries, result.defaults};
  for (const auto& e : entries) {
    const Verdict v = apply(profile, e, context);
    const Rule* rule = find_rule(profile, e.pattern);
    result.keys.push_back({e.path, e.where, v.outcome, v.outcome == Outcome::kUnsupported ? "" : concrete(v.kiln, e.subs),
                           v.note,
                           rule ? rule->tao : ""});
  }
  if (profile.finish) profile.finish(context);
  write_tao_defaults(profile, out, result.defaults);
  list_unsupported(result, source, out);
  result.yaml = out.text(source);
  try {
    specs::load_spec_text(*profile.schema, result.yaml, "<imported spec>", output_dir);
  } catch (const specs::SpecError& e) {
    result.validation = e.issues();
  }
  return result;
}

std::vector<RuleRow> mapping_rules() {
  std::vector<RuleRow> rows;
  for (const auto& p : detail::all_profiles()) {
    for (const auto& r : p.rules) {
      rows.push_back({p.network, p.kind, r.tao, r.verdict.outcome, r.verdict.kiln, r.verdict.note});
    }
  }
  return rows;
}

std::string mapping_reference() {
  using namespace detail;
  std::ostringstream out;
  for (const auto& p : all_profiles()) {
    out << "### " << name_of(p.network) << " " << name_of(p.kind) << " (`" << p.tao->full_name() << "` → kiln's `"
        << p.schema->name << "` spec)\n\n| TAO key | result | kiln key | what changed, or why not |\n|---|---|---|---|\n";
    std::vector<std::string> patterns;
    leaf_patterns(*p.tao, "", 0, patterns);
    for (const auto& pattern : patterns) {
      const Verdict v = classify(p, pattern, false);
      out << "| `" << pattern << "` | " << name_of(v.outcome) << " | " << (v.kiln.empty() ? "" : "`" + v.kiln + "`")
          << " | " << cell(v.note) << " |\n";
    }
    if (!p.defaults.empty()) {
      out << "\nSet to TAO's default when the TAO spec leaves them unset (kiln's own default differs):\n\n"
          << "| kiln key | value | why |\n|---|---|---|\n";
      for (const auto& d : p.defaults) {
        out << "| `" << d.kiln << "` | `" << KilnYaml::format(d.value, specs::find_field(*p.schema, d.kiln)) << "` | "
            << cell(d.why) << " |\n";
      }
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace kiln::migrate
