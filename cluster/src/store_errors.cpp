#include "store_errors.h"

#include "store_protocol.h"

namespace kiln::cluster::detail {

namespace {

std::string rank_and_store(int rank, const std::string& server) {
  return " (rank " + std::to_string(rank) + ", store " + server + ")";
}

}  // namespace

std::string describe_get(const std::string& key) { return "get '" + key + "'"; }
std::string describe_add(const std::string& key) { return "add '" + key + "'"; }
std::string describe_wait(const std::vector<std::string>& keys) { return "wait for " + format_keys(keys); }
std::string describe_barrier(const std::string& name) { return "barrier '" + name + "'"; }

Error get_timed_out(const std::string& key, std::chrono::milliseconds timeout, int rank, const std::string& server) {
  return Error("store " + describe_get(key) + " timed out after " + format_duration(timeout) +
                   ": no rank has set that key" + rank_and_store(rank, server),
               ExitCode::kRankFailed);
}

Error wait_timed_out(const std::vector<std::string>& keys, std::chrono::milliseconds timeout,
                     const std::vector<std::string>& never, int rank, const std::string& server) {
  return Error("store " + describe_wait(keys) + " timed out after " + format_duration(timeout) + ": " +
                   format_keys(never) + " never set" + rank_and_store(rank, server),
               ExitCode::kRankFailed);
}

Error barrier_timed_out(const std::string& name, std::chrono::milliseconds timeout, const Missing& missing) {
  // Horovod's stall inspector: name the ranks everyone is waiting for.
  const std::string why =
      !missing.never.empty()
          ? format_ranks(missing.never) + (missing.never.size() == 1 ? " has" : " have") + " not arrived"
          : format_ranks(missing.left) + " arrived but left before the others came (timed out or exited)";
  return Error(describe_barrier(name) + " timed out after " + format_duration(timeout) + ": " + why,
               ExitCode::kRankFailed);
}

Error request_refused(const std::string& what, int rank, const std::string& why) {
  return Error("store " + what + " failed on rank " + std::to_string(rank) + ": " + why);
}

}  // namespace kiln::cluster::detail
