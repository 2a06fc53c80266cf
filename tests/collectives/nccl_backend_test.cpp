// NCCL backend: compiled whenever CUDA + NCCL are found; the GPU tests skip cleanly without a device (or with a
// CPU-only LibTorch, such as Debian's). World size 1 on one GPU checks the plumbing: stream, events, dtypes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <chrono>

#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"

namespace {

using namespace std::chrono_literals;
using kiln::collectives::Communicator;
using kiln::collectives::ReduceOp;
using kiln::collectives::WorkPtr;
using kiln::collectives::WorkStatus;
namespace kc = kiln::collectives;

// "" when a GPU test can run here, else why not.
std::string gpu_unavailable() {
  if (!kc::nccl_available()) return "built without NCCL";
  if (kc::nccl_device_count() == 0) return "no CUDA device";
  if (!torch::cuda::is_available()) return "LibTorch has no CUDA support";
  return "";
}

std::unique_ptr<Communicator> single_gpu_communicator() {
  return kc::make_nccl_communicator(0, 1, 0, kc::nccl_make_unique_id());
}

TEST(NcclBackend, WithoutNcclFactoriesSayWhy) {
  if (kc::nccl_available()) GTEST_SKIP() << "NCCL is compiled in";
  EXPECT_EQ(kc::nccl_device_count(), 0);
  try {
    kc::make_nccl_communicator(0, 1, 0, std::string(128, '\0'));
    FAIL() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    EXPECT_STREQ(e.what(), "built without NCCL");
  }
  EXPECT_THROW(kc::nccl_make_unique_id(), kiln::Error);
}

TEST(NcclBackend, UniqueIdIs128Bytes) {
  if (!kc::nccl_available()) GTEST_SKIP() << "built without NCCL";
  try {
    EXPECT_EQ(kc::nccl_make_unique_id().size(), 128u);
  } catch (const kiln::Error& e) {
    if (kc::nccl_device_count() == 0) GTEST_SKIP() << "ncclGetUniqueId needs a device here: " << e.what();
    throw;
  }
}

TEST(NcclBackend, RejectsMalformedUniqueId) {
  if (!kc::nccl_available()) GTEST_SKIP() << "built without NCCL";
  EXPECT_THROW(kc::make_nccl_communicator(0, 1, 0, "short"), kiln::Error);
}

TEST(NcclBackend, CollectivesOnOneGpu) {
  const std::string why = gpu_unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  auto comm = single_gpu_communicator();
  EXPECT_EQ(comm->backend(), "nccl");
  EXPECT_EQ(comm->size(), 1);
  const auto cuda = at::TensorOptions().device(at::kCUDA, 0);
  for (at::ScalarType dtype : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAvg, ReduceOp::kMax, ReduceOp::kMin}) {
      const at::Tensor want = at::arange(1031, at::kFloat).remainder(17).to(dtype);
      at::Tensor t = want.to(cuda);
      WorkPtr w = comm->allreduce(t, op);
      ASSERT_EQ(w->wait(30s), WorkStatus::kCompleted) << w->describe() << ": " << w->error();
      EXPECT_TRUE(t.cpu().equal(want)) << w->describe();
    }
  }
  at::Tensor b = at::arange(100, cuda.dtype(at::kLong));
  kc::wait_ok(comm->broadcast(b, 0), 30s);
  EXPECT_TRUE(b.cpu().equal(at::arange(100, at::kLong)));
  const at::Tensor in = at::arange(64, cuda.dtype(at::kFloat));
  at::Tensor out = at::zeros({64}, cuda.dtype(at::kFloat));
  kc::wait_ok(comm->allgather(in, out), 30s);
  EXPECT_TRUE(out.cpu().equal(in.cpu()));
  WorkPtr barrier = comm->barrier();
  EXPECT_EQ(barrier->wait(30s), WorkStatus::kCompleted);
  EXPECT_TRUE(barrier->is_completed());
}

TEST(NcclBackend, RejectsCpuTensors) {
  const std::string why = gpu_unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  auto comm = single_gpu_communicator();
  at::Tensor cpu = at::ones({4});
  EXPECT_THROW(comm->allreduce(cpu, ReduceOp::kSum), kiln::Error);
}

TEST(NcclBackend, AbortFailsFutureWork) {
  const std::string why = gpu_unavailable();
  if (!why.empty()) GTEST_SKIP() << why;
  auto comm = single_gpu_communicator();
  comm->abort("test abort");
  at::Tensor t = at::ones({4}, at::TensorOptions().device(at::kCUDA, 0));
  WorkPtr w = comm->allreduce(t, ReduceOp::kSum);
  EXPECT_EQ(w->wait(1s), WorkStatus::kAborted);
  EXPECT_EQ(w->error(), "test abort");
}

}  // namespace
