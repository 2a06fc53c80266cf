// GPU-rank plumbing that runs without a GPU: device selection and the NCCL unique id's trip through the control-plane
// store (the path GPU ranks take when there is no MPI world).
#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/cuda.h>

#include "kiln/cluster/control_plane.h"
#include "kiln/common/error.h"
#include "kiln/runtime/device.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/tasks.h"

namespace kiln::runtime {
namespace {

TEST(Device, CpuAndAutoOnAHostWithoutCuda) {
  if (torch::cuda::device_count() > 0) GTEST_SKIP() << "this host has CUDA devices";
  cluster::RankInfo rank;
  EXPECT_TRUE(select_device("cpu", rank).is_cpu());
  EXPECT_TRUE(select_device("auto", rank).is_cpu());
  try {
    select_device("cuda", rank);
    FAIL() << "cuda without a device must be refused";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("needs a CUDA device"), std::string::npos) << e.what();
  }
  EXPECT_THROW(select_device("tpu", rank), UsageError);
  ::setenv("KILN_DEVICE", "cuda", 1);  // the launcher's choice for --gpus reaches the rank through the environment
  EXPECT_THROW(select_device("", rank), UsageError);
  EXPECT_TRUE(select_device("cpu", rank).is_cpu());  // an explicit --device wins
  ::unsetenv("KILN_DEVICE");
}

TEST(Threads, OpenBlasPoolFollowsTheRankShareWhateverStartedTheRank) {
  using GetThreads = int (*)();
  auto get_blas = reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!get_blas) GTEST_SKIP() << "LibTorch's BLAS here is not OpenBLAS";
  cluster::RankInfo rank;
  rank.world_size = rank.local_world_size = 2;
  EXPECT_EQ(configure_threads(1, rank), 1);
  EXPECT_EQ(get_blas(), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
}

TEST(NcclUniqueId, RankZeroHandsItToEveryRankThroughTheStore) {
  const std::string token = cluster::make_job_token();
  cluster::ControlPlaneServer server(cluster::StoreServerOptions::from_env(token), cluster::ControlPlaneOptions{});
  cluster::StoreClientOptions conn;
  conn.port = server.port();
  conn.token = token;
  std::string id(128, '\0');  // NCCL ids are raw bytes, NULs included
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>((i * 37) & 0xff);
  int made = 0;
  std::vector<std::future<std::string>> others;
  for (int r = 1; r < 4; ++r)  // the other ranks may ask before rank 0 has set it
    others.push_back(std::async(std::launch::async, [&, r] { return share_nccl_unique_id(conn, r); }));
  const std::string root = share_nccl_unique_id(conn, 0, [&] {
    ++made;
    return id;
  });
  EXPECT_EQ(root, id);
  for (auto& f : others) EXPECT_EQ(f.get(), id);
  EXPECT_EQ(made, 1);
  // The side connections are not ranks: the control plane saw no failure.
  EXPECT_FALSE(server.aborted());
}

TEST(NcclUniqueId, AMissingRootTimesOutInsteadOfHanging) {
  const std::string token = cluster::make_job_token();
  cluster::ControlPlaneServer server(cluster::StoreServerOptions::from_env(token), cluster::ControlPlaneOptions{});
  cluster::StoreClientOptions conn;
  conn.port = server.port();
  conn.token = token;
  EXPECT_THROW(share_nccl_unique_id(conn, 1, {}, std::chrono::milliseconds(300)), Error);
}

}  // namespace
}  // namespace kiln::runtime
