// The text of an ABORT, as every rank reads it (docs/control_plane.md "Failure messages"): the TCP control plane
// server and LocalControlPlane word failures alike. Private to kiln_cluster.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace kiln::cluster::detail {

// "rank 1 (host node02)"
std::string who(int rank, const std::string& host);

// "rank 2 (host node03) aborted at step 57: <why>"
std::string rank_aborted(int rank, const std::string& host, int64_t step, const std::string& why);

// "rank 1 (host node02) exited (connection closed) at step 120"
std::string rank_exited(int rank, const std::string& host, int64_t step);

// "rank 1 (host node02) stopped sending heartbeats at step 120 (silent for 3.1 s)"
std::string rank_went_silent(int rank, const std::string& host, int64_t step, std::chrono::nanoseconds silent);

// "3.1 s": one decimal, for durations measured rather than configured.
std::string seconds_text(std::chrono::nanoseconds d);

}  // namespace kiln::cluster::detail
