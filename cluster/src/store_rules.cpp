#include "store_rules.h"

#include <cerrno>
#include <cstdlib>

namespace kiln::cluster::detail {

namespace {

// Strict decimal parse: a counter holding anything else is an error, not a silent zero.
bool parse_int64(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

}  // namespace

AddResult apply_add(KeyValues& kv, const std::string& key, int64_t delta) {
  int64_t current = 0;
  auto it = kv.find(key);
  if (it != kv.end() && !parse_int64(it->second, current))
    return {0, "store add '" + key + "': the value stored there is not an integer"};
  int64_t next = 0;
  if (__builtin_add_overflow(current, delta, &next))
    return {0, "store add '" + key + "': " + std::to_string(current) + " + " + std::to_string(delta) +
                   " overflows int64"};
  kv[key] = std::to_string(next);
  return {next, ""};
}

std::vector<std::string> missing_keys(const KeyValues& kv, const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  for (const auto& k : keys)
    if (!kv.count(k)) out.push_back(k);
  return out;
}

std::string barrier_join_error(const std::string& name, int64_t world_size, int64_t rank, int64_t existing_size,
                               std::optional<int64_t> first_arrived, bool rank_waiting) {
  const std::string what = "barrier '" + name + "': rank " + std::to_string(rank);
  if (world_size < 1 || rank < 0 || rank >= world_size)
    return what + " is not in [0, world size " + std::to_string(world_size) + ")";
  if (existing_size != world_size && first_arrived)
    return what + " says the world size is " + std::to_string(world_size) + " but rank " +
           std::to_string(*first_arrived) + " said " + std::to_string(existing_size);
  if (rank_waiting) return what + " is already waiting here (two processes with the same rank?)";
  return "";
}

}  // namespace kiln::cluster::detail
