// Locations, issues, errors and the Spec accessors.
#include "kiln/specs/spec.h"

#include "tree.h"

namespace kiln::specs {
namespace {

const char* const kTypeNames[] = {"bool",     "int",        "float",       "string",
                                  "int list", "float list", "string list", "string map"};

std::string message_for(const std::string& file, const std::vector<SpecIssue>& issues) {
  std::string what =
      "invalid spec " + file + ": " + std::to_string(issues.size()) + (issues.size() == 1 ? " problem" : " problems");
  for (const auto& issue : issues) what += "\n" + issue.str();
  return what;
}

std::string file_of(const std::vector<SpecIssue>& issues) {
  for (const auto& issue : issues) {
    if (issue.where.file != detail::kCommandLine) return issue.where.file;
  }
  return detail::kCommandLine;
}

// A getter asked for a key the schema does not give it: that is a bug in the caller, not a user error.
const Value& lookup(const Spec& spec, const std::string& path, const char* requested) {
  auto it = spec.values_.find(path);
  if (it == spec.values_.end()) {
    throw Error("spec key '" + path + "' is not set (requested as " + requested + ")");
  }
  return it->second;
}

template <typename T>
const T& get_as(const Spec& spec, const std::string& path, const char* requested) {
  const Value& v = lookup(spec, path, requested);
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw Error("spec key '" + path + "' holds a " + kTypeNames[v.index()] + ", not a " + requested);
}

}  // namespace

std::string Location::str() const {
  if (line == 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string SpecIssue::str() const {
  return key_path.empty() ? where.str() + ": " + message : where.str() + ": " + key_path + ": " + message;
}

SpecError::SpecError(std::vector<SpecIssue> issues) : SpecError(file_of(issues), std::move(issues)) {}

SpecError::SpecError(const std::string& file, std::vector<SpecIssue> issues)
    : UsageError(message_for(file, issues)), issues_(std::move(issues)) {}

bool Spec::has(const std::string& path) const { return values_.count(path) > 0 || list_sizes_.count(path) > 0; }

bool Spec::get_bool(const std::string& path) const { return get_as<bool>(*this, path, "bool"); }

int64_t Spec::get_int(const std::string& path) const { return get_as<int64_t>(*this, path, "int"); }

double Spec::get_float(const std::string& path) const {
  const Value& v = lookup(*this, path, "float");
  if (const int64_t* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return get_as<double>(*this, path, "float");
}

const std::string& Spec::get_string(const std::string& path) const {
  return get_as<std::string>(*this, path, "string");
}

const std::vector<int64_t>& Spec::get_int_list(const std::string& path) const {
  return get_as<std::vector<int64_t>>(*this, path, "int list");
}

const std::vector<double>& Spec::get_float_list(const std::string& path) const {
  return get_as<std::vector<double>>(*this, path, "float list");
}

const std::vector<std::string>& Spec::get_string_list(const std::string& path) const {
  return get_as<std::vector<std::string>>(*this, path, "string list");
}

const StringMap& Spec::get_string_map(const std::string& path) const {
  return get_as<StringMap>(*this, path, "string map");
}

size_t Spec::count(const std::string& path) const {
  auto it = list_sizes_.find(path);
  if (it == list_sizes_.end()) throw Error("spec key '" + path + "' is not a group list (requested its count)");
  return it->second;
}

const std::string& Spec::choice(const std::string& path) const {
  auto it = choices_.find(path);
  if (it == choices_.end()) throw Error("spec key '" + path + "' is not a one-of group (requested its choice)");
  return it->second;
}

Location Spec::location(const std::string& path) const {
  for (std::string p = path;;) {
    auto it = locations_.find(p);
    if (it != locations_.end()) return it->second;
    const size_t dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p.resize(dot);
  }
  return Location{source_file_, 0, 0};
}

}  // namespace kiln::specs
