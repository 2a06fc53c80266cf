// KILN_MPI_CHECK(MPI_Allreduce(...)): throws kiln::Error naming the call, file:line and MPI_Error_string.
// KILN_MPI_WARN(...) is the same for teardown paths that must not throw: it logs a warning instead.
// Communicators use MPI_ERRORS_RETURN, so failures arrive here instead of killing the process inside MPI.
#pragma once
#include <mpi.h>

#include <cstring>
#include <string>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::collectives::detail {

inline std::string mpi_failure(int rc, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) std::strcpy(text, "unknown MPI error");
  const char* base = std::strrchr(file, '/');
  return std::string(call) + " failed at " + (base ? base + 1 : file) + ":" + std::to_string(line) + ": " + text +
         " (code " + std::to_string(rc) + ")";
}

}  // namespace kiln::collectives::detail

#define KILN_MPI_CHECK(call)                                                                              \
  do {                                                                                                    \
    const int kiln_mpi_rc_ = (call);                                                                      \
    if (kiln_mpi_rc_ != MPI_SUCCESS)                                                                      \
      throw ::kiln::Error(::kiln::collectives::detail::mpi_failure(kiln_mpi_rc_, #call, __FILE__, __LINE__)); \
  } while (0)

#define KILN_MPI_WARN(call)                                                                               \
  do {                                                                                                    \
    const int kiln_mpi_rc_ = (call);                                                                      \
    if (kiln_mpi_rc_ != MPI_SUCCESS)                                                                      \
      ::kiln::log::warn(::kiln::collectives::detail::mpi_failure(kiln_mpi_rc_, #call, __FILE__, __LINE__)); \
  } while (0)
