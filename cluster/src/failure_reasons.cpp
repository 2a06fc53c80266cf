#include "failure_reasons.h"

#include <cstdio>

namespace kiln::cluster::detail {

std::string who(int rank, const std::string& host) { return "rank " + std::to_string(rank) + " (host " + host + ")"; }

std::string rank_aborted(int rank, const std::string& host, int64_t step, const std::string& why) {
  return who(rank, host) + " aborted at step " + std::to_string(step) + ": " + why;
}

std::string rank_exited(int rank, const std::string& host, int64_t step) {
  return who(rank, host) + " exited (connection closed) at step " + std::to_string(step);
}

std::string rank_went_silent(int rank, const std::string& host, int64_t step, std::chrono::nanoseconds silent) {
  return who(rank, host) + " stopped sending heartbeats at step " + std::to_string(step) + " (silent for " +
         seconds_text(silent) + ")";
}

std::string seconds_text(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

}  // namespace kiln::cluster::detail
