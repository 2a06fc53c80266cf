// KILN_CUDA_CHECK / KILN_NCCL_CHECK (NCCL's checks.h idea): throw kiln::Error naming the call, file:line and the
// library's own error text. The _WARN forms log instead, for teardown paths that must not throw.
// Only compiled with KILN_HAVE_NCCL.
#pragma once
#include <cuda_bf16.h>  // before nccl.h: older NCCL releases declare ncclBfloat16 only after cuda_bf16.h
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::collectives::detail {

inline std::string call_site(const char* call, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  return std::string(call) + " failed at " + (base ? base + 1 : file) + ":" + std::to_string(line) + ": ";
}

inline std::string cuda_failure(cudaError_t rc, const char* call, const char* file, int line) {
  return call_site(call, file, line) + cudaGetErrorName(rc) + ": " + cudaGetErrorString(rc);
}

inline std::string nccl_failure(ncclResult_t rc, const char* call, const char* file, int line) {
  const char* detail = ncclGetLastError(nullptr);
  return call_site(call, file, line) + ncclGetErrorString(rc) +
         (detail && *detail ? std::string(" (") + detail + ")" : std::string());
}

}  // namespace kiln::collectives::detail

#define KILN_CUDA_CHECK(call)                                                                              \
  do {                                                                                                     \
    const cudaError_t kiln_cuda_rc_ = (call);                                                              \
    if (kiln_cuda_rc_ != cudaSuccess)                                                                      \
      throw ::kiln::Error(::kiln::collectives::detail::cuda_failure(kiln_cuda_rc_, #call, __FILE__, __LINE__)); \
  } while (0)

#define KILN_CUDA_WARN(call)                                                                               \
  do {                                                                                                     \
    const cudaError_t kiln_cuda_rc_ = (call);                                                              \
    if (kiln_cuda_rc_ != cudaSuccess)                                                                      \
      ::kiln::log::warn(::kiln::collectives::detail::cuda_failure(kiln_cuda_rc_, #call, __FILE__, __LINE__)); \
  } while (0)

#define KILN_NCCL_CHECK(call)                                                                              \
  do {                                                                                                     \
    const ncclResult_t kiln_nccl_rc_ = (call);                                                             \
    if (kiln_nccl_rc_ != ncclSuccess)                                                                      \
      throw ::kiln::Error(::kiln::collectives::detail::nccl_failure(kiln_nccl_rc_, #call, __FILE__, __LINE__)); \
  } while (0)

#define KILN_NCCL_WARN(call)                                                                               \
  do {                                                                                                     \
    const ncclResult_t kiln_nccl_rc_ = (call);                                                             \
    if (kiln_nccl_rc_ != ncclSuccess)                                                                      \
      ::kiln::log::warn(::kiln::collectives::detail::nccl_failure(kiln_nccl_rc_, #call, __FILE__, __LINE__)); \
  } while (0)
