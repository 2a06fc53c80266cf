// `kiln cluster check`, the rank side: reachability (MPI world + control plane), placement, all-reduce bandwidth.
#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

#include "kiln/common/env.h"
#include "kiln/common/log.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/tasks.h"

namespace kiln::runtime {
namespace {

constexpr int64_t kNameWords = 16;  // 128 bytes per rank for "host pid local_rank", carried as int64 words

// Best-of-N bus bandwidth (GB/s) of an all-reduce of `bytes` float32 bytes; NCCL's busbw = 2(n-1)/n · bytes / t.
double allreduce_busbw(collectives::Communicator& comm, size_t bytes, int iterations) {
  at::Tensor t = at::ones({static_cast<int64_t>(bytes / 4)}, at::kFloat);
  collectives::wait_ok(comm.allreduce(t, collectives::ReduceOp::kSum));  // warm-up
  double best = 1e30;
  for (int i = 0; i < iterations; ++i) {
    collectives::wait_ok(comm.barrier());
    const auto t0 = std::chrono::steady_clock::now();
    collectives::wait_ok(comm.allreduce(t, collectives::ReduceOp::kSum));
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double n = comm.size();
  return 2.0 * (n - 1) / n * static_cast<double>(bytes) / best / 1e9;
}

}  // namespace

void run_cluster_check(const cluster::RankInfo& rank) {
  if (!rank.distributed()) {
    std::cout << "1 rank on " << host_name() << ": nothing to check across hosts "
              << "(use --num_processes N or -c cluster.yaml)" << std::endl;
    return;
  }
  Distributed dist(rank);  // joins MPI and the control plane: a rank that cannot reach either fails here, named
  auto& comm = *dist.comm();
  std::ostringstream me;
  me << host_name() << " " << ::getpid() << " " << rank.local_rank;
  at::Tensor mine = at::zeros({kNameWords}, at::kLong);
  std::memcpy(mine.data_ptr(), me.str().data(), std::min<size_t>(me.str().size(), kNameWords * 8 - 1));
  at::Tensor all = at::zeros({kNameWords * comm.size()}, at::kLong);
  collectives::wait_ok(comm.allgather(mine, all));
  if (dist.is_root()) {
    std::cout << "All " << comm.size() << " ranks joined the MPI world and the control plane.\n"
              << "  rank  host                      pid       local rank\n";
    for (int r = 0; r < comm.size(); ++r) {
      const char* text = reinterpret_cast<const char*>(all.data_ptr<int64_t>() + r * kNameWords);
      std::istringstream is(std::string(text, strnlen(text, kNameWords * 8)));
      std::string host, pid, local;
      is >> host >> pid >> local;
      std::printf("  %-5d %-25s %-9s %s\n", r, host.c_str(), pid.c_str(), local.c_str());
    }
    std::cout << "All-reduce (float32 sum, " << comm.backend() << "), bus bandwidth, best of 5:" << std::endl;
  }
  for (size_t mib : {1, 25, 100}) {
    const double gbs = allreduce_busbw(comm, mib << 20, 5);
    if (dist.is_root()) std::printf("  %4zu MiB  %7.2f GB/s\n", mib, gbs);
  }
  std::fflush(stdout);
}

}  // namespace kiln::runtime
