// Gloo-style harness: one thread per rank (over make_thread_world, or any backend), exceptions collected, the first
// rethrown.
#pragma once
#include <exception>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "collectives/collective_checks.h"
#include "kiln/collectives/backends.h"

namespace kiln_test {

// body(r) on one thread per rank; the first exception (by rank) is rethrown once every thread has finished.
inline void run_rank_threads(int world_size, const std::function<void(int rank)>& body) {
  std::vector<std::exception_ptr> errors(world_size);
  std::vector<std::thread> ranks;
  for (int r = 0; r < world_size; ++r) {
    ranks.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& t : ranks) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

inline void run_ranks(int world_size, const std::function<void(Communicator&)>& body) {
  auto comms = kiln::collectives::make_thread_world(world_size);
  run_rank_threads(world_size, [&](int r) { body(*comms[r]); });
}

inline void throw_if_failed(const Failures& f) {
  if (!f.empty()) throw std::runtime_error(f.str());
}

}  // namespace kiln_test
