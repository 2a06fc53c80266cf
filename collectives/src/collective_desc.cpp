#include "collective_desc.h"

#include <cstdio>

#include "kiln/common/error.h"

namespace kiln::collectives::detail {
namespace {

bool supported(at::ScalarType t) {
  return t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16 || t == at::kLong;
}

void check_tensor(const char* backend, const char* what, const at::Tensor& t) {
  if (!t.defined()) throw Error(std::string(backend) + ": " + what + " tensor is undefined");
  if (!t.is_contiguous()) throw Error(std::string(backend) + ": " + what + " tensor must be contiguous");
  if (!supported(t.scalar_type())) {
    throw Error(std::string(backend) + ": unsupported dtype " + c10::toString(t.scalar_type()) + " for " + what +
                " (float32, float64, float16, bfloat16, int64)");
  }
}

}  // namespace

const char* dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    default: return c10::toString(dtype);
  }
}

std::string format_bytes(int64_t bytes) {
  static const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 3) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string CollectiveDesc::describe() const {
  std::string s;
  switch (kind) {
    case CollectiveKind::kAllreduce: s = std::string("allreduce(") + to_string(op) + ")"; break;
    case CollectiveKind::kBroadcast: s = "broadcast(root " + std::to_string(root) + ")"; break;
    case CollectiveKind::kAllgather: s = "allgather"; break;
    case CollectiveKind::kBarrier: return "barrier #" + std::to_string(seq);
  }
  const int64_t bytes = numel * static_cast<int64_t>(c10::elementSize(dtype));
  return s + " #" + std::to_string(seq) + " " + dtype_name(dtype) + " x " + std::to_string(numel) + " (" +
         format_bytes(bytes) + ")";
}

bool CollectiveDesc::same_call(const CollectiveDesc& o) const {
  if (kind != o.kind) return false;
  if (kind == CollectiveKind::kBarrier) return true;
  return op == o.op && root == o.root && dtype == o.dtype && numel == o.numel;
}

CollectiveDesc allreduce_desc(const char* backend, const at::Tensor& tensor, ReduceOp op, uint64_t seq) {
  check_tensor(backend, "allreduce", tensor);
  if (op == ReduceOp::kAvg && tensor.scalar_type() == at::kLong) {
    throw Error(std::string(backend) + ": allreduce(avg) needs a floating-point tensor, got int64");
  }
  CollectiveDesc d;
  d.kind = CollectiveKind::kAllreduce;
  d.op = op;
  d.dtype = tensor.scalar_type();
  d.numel = tensor.numel();
  d.seq = seq;
  return d;
}

CollectiveDesc broadcast_desc(const char* backend, const at::Tensor& tensor, int root, int size, uint64_t seq) {
  check_tensor(backend, "broadcast", tensor);
  if (root < 0 || root >= size) {
    throw Error(std::string(backend) + ": broadcast root " + std::to_string(root) + " outside world of size " +
                std::to_string(size));
  }
  CollectiveDesc d;
  d.kind = CollectiveKind::kBroadcast;
  d.root = root;
  d.dtype = tensor.scalar_type();
  d.numel = tensor.numel();
  d.seq = seq;
  return d;
}

CollectiveDesc allgather_desc(const char* backend, const at::Tensor& input, const at::Tensor& output, int size,
                              uint64_t seq) {
  check_tensor(backend, "allgather input", input);
  check_tensor(backend, "allgather output", output);
  if (output.scalar_type() != input.scalar_type() || output.numel() != input.numel() * size) {
    throw Error(std::string(backend) + ": allgather output must be " + dtype_name(input.scalar_type()) + " x " +
                std::to_string(input.numel() * size) + " (world size " + std::to_string(size) +
                " x input), got " + dtype_name(output.scalar_type()) + " x " + std::to_string(output.numel()));
  }
  if (output.device() != input.device()) throw Error(std::string(backend) + ": allgather input/output devices differ");
  CollectiveDesc d;
  d.kind = CollectiveKind::kAllgather;
  d.dtype = input.scalar_type();
  d.numel = input.numel();
  d.seq = seq;
  return d;
}

CollectiveDesc barrier_desc(uint64_t seq) {
  CollectiveDesc d;
  d.kind = CollectiveKind::kBarrier;
  d.seq = seq;
  return d;
}

const at::Tensor& require_cpu(const char* backend, const char* name, const at::Tensor& t) {
  if (t.defined() && !t.device().is_cpu()) {
    throw Error(std::string(backend) + ": the " + name + " communicator takes CPU tensors, got one on " +
                t.device().str() + " (use the NCCL backend for CUDA tensors)");
  }
  return t;
}

}  // namespace kiln::collectives::detail
