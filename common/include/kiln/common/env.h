// Environment knobs (NCCL's param.h idea): each is declared once where it is used, read once, and cached.
#pragma once
#include <cstdlib>
#include <string>

namespace kiln {

inline std::string env_string(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

long env_long(const char* name, long fallback);  // throws UsageError if set but not an integer

std::string host_name();  // gethostname(), "localhost" if that fails

}  // namespace kiln
