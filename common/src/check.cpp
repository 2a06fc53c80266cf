#include "kiln/common/check.h"

namespace kiln::detail {

void throw_syscall(const char* call, const char* file, int line, int err, const std::string& context) {
  const char* base = std::strrchr(file, '/');
  throw Error(context + ": " + std::strerror(err) + " [" + call + " at " + (base ? base + 1 : file) + ":" +
              std::to_string(line) + "]");
}

}  // namespace kiln::detail
