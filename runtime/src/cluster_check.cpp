// `kiln cluster check`, the rank side: reachability (the communicator + control plane), placement, all-reduce bandwidth.
#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>

#include "kiln/common/env.h"
#include "kiln/common/log.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/tasks.h"

namespace kiln::runtime {
namespace {

constexpr int64_t kNameWords = 16;  // 128 bytes per rank for "host pid local_rank", carried as int64 words

// "1.23 GB/s" or "45.6 MB/s": three significant figures over a shaped 100 Mbit/s link as over InfiniBand.
// "1 MiB", "64 KiB", "4 B": whole units, else one decimal.
std::string size_text(size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, v == static_cast<double>(static_cast<int64_t>(v)) ? "%.0f %s" : "%.1f %s", v,
                units[u]);
  return text;
}

std::string rate(double bytes_per_second) {
  char text[32];
  if (bytes_per_second >= 1e9) {
    std::snprintf(text, sizeof text, "%.2f GB/s", bytes_per_second / 1e9);
  } else {
    std::snprintf(text, sizeof text, "%.1f MB/s", bytes_per_second / 1e6);
  }
  return text;
}

struct Timing {
  double seconds = 0;  // the best of the iterations
  double algbw = 0;    // bytes / seconds
  double busbw = 0;    // NCCL's bus bandwidth: algbw · 2(n-1)/n, what each rank's link carried per second
};

// Best-of-N time of an all-reduce of `bytes` float32 bytes (after one warm-up).
Timing time_allreduce(collectives::Communicator& comm, size_t bytes, int iterations) {
  at::Tensor t = at::ones({static_cast<int64_t>(bytes / 4)}, at::kFloat);
  collectives::wait_ok(comm.allreduce(t, collectives::ReduceOp::kSum));  // warm-up
  double best = 1e30;
  for (int i = 0; i < iterations; ++i) {
    collectives::wait_ok(comm.barrier());
    const auto t0 = std::chrono::steady_clock::now();
    collectives::wait_ok(comm.allreduce(t, collectives::ReduceOp::kSum));
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double n = comm.size(), algbw = static_cast<double>(bytes) / best;
  return {best, algbw, algbw * 2.0 * (n - 1) / n};
}

}  // namespace

void run_cluster_check(const cluster::RankInfo& rank, const ClusterCheckOptions& opts) {
  if (!rank.distributed()) {
    std::cout << "1 rank on " << host_name() << ": nothing to check across hosts "
              << "(use --num_processes N or -c cluster.yaml)" << std::endl;
    return;
  }
  Distributed dist(rank);  // joins the communicator and the control plane: a rank that cannot reach either fails here
  auto& comm = *dist.comm();
  std::ostringstream me;
  me << host_name() << " " << ::getpid() << " " << rank.local_rank;
  at::Tensor mine = at::zeros({kNameWords}, at::kLong);
  std::memcpy(mine.data_ptr(), me.str().data(), std::min<size_t>(me.str().size(), kNameWords * 8 - 1));
  at::Tensor all = at::zeros({kNameWords * comm.size()}, at::kLong);
  collectives::wait_ok(comm.allgather(mine, all));
  if (dist.is_root()) {
    const std::string backend = comm.backend() == "gloo" ? "Gloo" : comm.backend() == "nccl" ? "NCCL" : "MPI";
    std::cout << "All " << comm.size() << " ranks joined the " << backend << " world and the control plane.\n"
              << "  rank  host                      pid       local rank\n";
    for (int r = 0; r < comm.size(); ++r) {
      const char* text = reinterpret_cast<const char*>(all.data_ptr<int64_t>() + r * kNameWords);
      std::istringstream is(std::string(text, strnlen(text, kNameWords * 8)));
      std::string host, pid, local;
      is >> host >> pid >> local;
      std::printf("  %-5d %-25s %-9s %s\n", r, host.c_str(), pid.c_str(), local.c_str());
    }
    std::cout << "All-reduce (float32 sum, " << comm.backend() << "), best of " << opts.iterations << ":\n"
              << "      size         time      algbw      busbw  busbw (link)" << std::endl;
  }
  for (double mib : opts.sizes_mib) {
    const size_t bytes = std::max<size_t>(4, static_cast<size_t>(mib * (1 << 20) / 4 + 0.5) * 4);
    const Timing t = time_allreduce(comm, bytes, opts.iterations);
    if (dist.is_root()) {
      std::printf("  %8s  %8.3f ms  %9s  %9s  %8.3f Gbit/s\n", size_text(bytes).c_str(), t.seconds * 1e3,
                  rate(t.algbw).c_str(), rate(t.busbw).c_str(), t.busbw * 8 / 1e9);
    }
  }
  std::fflush(stdout);
}

}  // namespace kiln::runtime
