// What one collective call is, independent of backend: used for Work descriptions, argument checks shared by every
// backend, and the cross-rank desync check (two ranks at the same sequence number must describe the same call).
#pragma once
#include <ATen/Tensor.h>

#include <cstdint>
#include <string>

#include "kiln/collectives/communicator.h"

namespace kiln::collectives::detail {

enum class CollectiveKind { kAllreduce, kBroadcast, kAllgather, kBarrier };

struct CollectiveDesc {
  CollectiveKind kind = CollectiveKind::kBarrier;
  ReduceOp op = ReduceOp::kSum;  // allreduce only
  int root = -1;                 // broadcast only
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;             // per rank (allgather: the input)
  uint64_t seq = 0;

  // "allreduce(sum) #17 float32 x 1048576 (4.0 MiB)"
  std::string describe() const;
  // Same call apart from the sequence number.
  bool same_call(const CollectiveDesc& other) const;
};

const char* dtype_name(at::ScalarType dtype);  // "float32", "bfloat16", ...
std::string format_bytes(int64_t bytes);       // "28 B", "4.0 MiB"

// Argument checks (programming errors, thrown as kiln::Error at the call site rather than reported through a Work).
// `backend` names the caller in the message.
CollectiveDesc allreduce_desc(const char* backend, const at::Tensor& tensor, ReduceOp op, uint64_t seq);
CollectiveDesc broadcast_desc(const char* backend, const at::Tensor& tensor, int root, int size, uint64_t seq);
CollectiveDesc allgather_desc(const char* backend, const at::Tensor& input, const at::Tensor& output, int size,
                              uint64_t seq);
CollectiveDesc barrier_desc(uint64_t seq);
// `t` itself, unless it is defined and not on the CPU: then throws kiln::Error "<backend>: the <name> communicator
// takes CPU tensors, got one on cuda:0 (use the NCCL backend for CUDA tensors)".
const at::Tensor& require_cpu(const char* backend, const char* name, const at::Tensor& t);

}  // namespace kiln::collectives::detail
