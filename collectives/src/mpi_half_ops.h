// float16/bfloat16 reductions for MPI, which has no 16-bit float types: user MPI_Ops over MPI_UINT16_T payloads
// that convert element by element through float, so no full-tensor upcast copy is ever made.
#pragma once
#include <mpi.h>

#include <c10/core/ScalarType.h>

#include "kiln/collectives/communicator.h"

namespace kiln::collectives::detail {

class HalfOps {
 public:
  HalfOps();  // MPI_Op_create: call from the thread that owns the communicator's MPI calls
  ~HalfOps();  // MPI_Op_free unless MPI is finalized or the ops were released
  HalfOps(const HalfOps&) = delete;
  HalfOps& operator=(const HalfOps&) = delete;

  // kAvg is reduced as kSum (the caller divides in place afterwards).
  MPI_Op op(at::ScalarType dtype, ReduceOp op) const;
  // Leave the ops to MPI (after an abort, when MPI calls may no longer be made).
  void leak() { owned_ = false; }

 private:
  void release();

  MPI_Op ops_[2][3];  // [float16, bfloat16][sum, max, min]
  bool owned_ = true;
};

}  // namespace kiln::collectives::detail
