#include "mpi_half_ops.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "half_reduce.h"
#include "mpi_check.h"

namespace kiln::collectives::detail {
namespace {

template <typename T, typename Op>
void reduce16(void* in, void* inout, int* len, MPI_Datatype*) {
  T* b = static_cast<T*>(inout);
  reduce_half<T, Op>(b, static_cast<const T*>(in), b, static_cast<size_t>(*len));
}

template <typename T>
void create_ops(MPI_Op* ops) {
  static_assert(sizeof(T) == 2, "16-bit payload travels as MPI_UINT16_T");
  KILN_MPI_CHECK(MPI_Op_create(&reduce16<T, HalfSum>, /*commute=*/1, &ops[0]));
  KILN_MPI_CHECK(MPI_Op_create(&reduce16<T, HalfMax>, 1, &ops[1]));
  KILN_MPI_CHECK(MPI_Op_create(&reduce16<T, HalfMin>, 1, &ops[2]));
}

}  // namespace

HalfOps::HalfOps() {
  for (auto& row : ops_) {
    for (auto& op : row) op = MPI_OP_NULL;
  }
  try {
    create_ops<c10::Half>(ops_[0]);
    create_ops<c10::BFloat16>(ops_[1]);
  } catch (...) {
    release();
    throw;
  }
}

HalfOps::~HalfOps() { release(); }

void HalfOps::release() {
  if (!owned_) return;
  owned_ = false;
  int finalized = 0;
  KILN_MPI_WARN(MPI_Finalized(&finalized));
  if (finalized) return;
  for (auto& row : ops_) {
    for (auto& op : row) {
      if (op != MPI_OP_NULL) KILN_MPI_WARN(MPI_Op_free(&op));
    }
  }
}

MPI_Op HalfOps::op(at::ScalarType dtype, ReduceOp op) const {
  const int row = dtype == at::kHalf ? 0 : 1;
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg: return ops_[row][0];
    case ReduceOp::kMax: return ops_[row][1];
    case ReduceOp::kMin: return ops_[row][2];
  }
  return MPI_OP_NULL;
}

}  // namespace kiln::collectives::detail
