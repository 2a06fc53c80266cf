// All-reduce bus bandwidth, raw MPI_Allreduce vs kiln's MPI Communicator (allreduce + wait), float32 sum in place:
//   mpirun -np 2 build/bench/kiln_bench_allreduce
// busbw = 2 (n-1)/n * bytes / time, as nccl-tests define it. Raw and kiln iterations alternate (the machine is
// shared and noisy); each iteration starts after a barrier and its time is the slowest rank's. Prints a Markdown
// table on rank 0; kiln's target is >= 0.9x raw MPI. A benchmark, not a test: it asserts nothing.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <ATen/ATen.h>

#include "kiln/collectives/backends.h"
#include "kiln/common/env.h"

namespace kc = kiln::collectives;

namespace {

struct Stats {
  double best = 0;
  double median = 0;
};

// Per-iteration time = the slowest rank's; returns best and median bus bandwidth in GB/s.
Stats bus_bandwidth(std::vector<double> seconds, int ranks, double bytes) {
  MPI_Allreduce(MPI_IN_PLACE, seconds.data(), static_cast<int>(seconds.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  std::sort(seconds.begin(), seconds.end());
  const double factor = 2.0 * (ranks - 1) / ranks * bytes / 1e9;
  return {factor / seconds.front(), factor / seconds[seconds.size() / 2]};
}

template <typename Fn>
double timed(Fn fn) {
  MPI_Barrier(MPI_COMM_WORLD);  // the communicator's thread is idle here, so this main-thread call is allowed
  const auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main() {
  const long iterations = kiln::env_long(kiln::knob::kBenchIters);
  const long warmup = 3;
  kc::MpiSession session;
  auto comm = kc::make_mpi_communicator();
  const int rank = comm->rank();
  const int ranks = comm->size();
  if (rank == 0) {
    std::printf("all-reduce float32 sum, %d ranks, %ld iterations after %ld warm-up (best / median)\n\n", ranks,
                iterations, warmup);
    std::printf("| size | raw MPI_Allreduce busbw GB/s | kiln MPI Communicator busbw GB/s | kiln / raw (median) |\n");
    std::printf("|---|---|---|---|\n");
  }
  for (const int mib : {1, 25, 100}) {
    const int64_t n = int64_t{mib} << 18;  // float32 elements
    at::Tensor raw_buf = at::ones({n});
    at::Tensor kiln_buf = at::ones({n});
    std::vector<double> raw, kiln;
    for (long i = 0; i < warmup + iterations; ++i) {
      const double r = timed([&] {
        MPI_Allreduce(MPI_IN_PLACE, raw_buf.data_ptr(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      });
      const double k = timed([&] { kc::wait_ok(comm->allreduce(kiln_buf, kc::ReduceOp::kSum)); });
      if (i >= warmup) {
        raw.push_back(r);
        kiln.push_back(k);
      }
    }
    const double bytes = static_cast<double>(n) * 4;
    const Stats r = bus_bandwidth(raw, ranks, bytes);
    const Stats k = bus_bandwidth(kiln, ranks, bytes);
    if (rank == 0) {
      std::printf("| %d MiB | %.2f / %.2f | %.2f / %.2f | %.2f |\n", mib, r.best, r.median, k.best, k.median,
                  k.median / r.median);
    }
  }
  return 0;
}
