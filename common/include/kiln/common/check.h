// CHECK macros for foreign APIs (NCCL's checks.h idea): each names the call and its location,
// and converts the foreign error into a kiln::Error carrying that context.
#pragma once
#include <cerrno>
#include <cstring>
#include <string>

#include "kiln/common/error.h"

namespace kiln::detail {
[[noreturn]] void throw_syscall(const char* call, const char* file, int line, int err,
                                const std::string& context);
}  // namespace kiln::detail

// KILN_SYSCALL(open(path, O_RDONLY), "opening " + path): throws with strerror(errno) when the call returns -1.
#define KILN_SYSCALL(call, context)                                                \
  ([&]() {                                                                         \
    auto kiln_rc_ = (call);                                                        \
    if (kiln_rc_ == -1) ::kiln::detail::throw_syscall(#call, __FILE__, __LINE__, errno, (context)); \
    return kiln_rc_;                                                               \
  }())
