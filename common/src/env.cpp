#include "kiln/common/env.h"

#include <unistd.h>

#include "kiln/common/error.h"

namespace kiln {

long env_long(const char* name, long fallback) {
  const std::string v = env_string(name);
  if (v.empty()) return fallback;
  try {
    size_t used = 0;
    long out = std::stol(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return out;
  } catch (const std::exception&) {
    throw UsageError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
  }
}

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

}  // namespace kiln
