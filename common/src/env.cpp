#include "kiln/common/env.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "kiln/common/error.h"

namespace kiln {
namespace {

// The raw value ("" when unset). Every read of the environment goes through here.
std::string lookup(const char* name) {
  if (std::strncmp(name, "KILN_", 5) == 0 && !find_knob(name))
    throw Error(std::string("environment variable ") + name + " is read but not declared in kiln/common/env_knobs.h");
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

long parse_long(const char* name, const std::string& v) {
  try {
    size_t used = 0;
    long out = std::stol(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return out;
  } catch (const std::exception&) {
    throw UsageError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
  }
}

}  // namespace

std::string env_string(const EnvKnob& knob) { return env_string(knob.name, knob.fallback); }

long env_long(const EnvKnob& knob) {
  const std::string v = env_string(knob);
  if (v.empty()) throw Error(std::string("environment knob ") + knob.name + " has no default: read it as a string");
  return parse_long(knob.name, v);
}

std::string env_string(const char* name, const std::string& fallback) {
  const std::string v = lookup(name);
  return v.empty() ? fallback : v;
}

long env_long(const char* name, long fallback) {
  const std::string v = lookup(name);
  return v.empty() ? fallback : parse_long(name, v);
}

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace kiln
