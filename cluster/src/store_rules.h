// What the store's operations mean, apart from how a rank reaches them: the TCP server (store_server_ops.cpp) and
// HashStore both apply these rules to their data, so the two agree on every answer and every error message.
// Private to kiln_cluster.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::cluster::detail {

using KeyValues = std::unordered_map<std::string, std::string>;

// ADD: the new value, or why the store refused (the value there is not an integer, or the sum overflows); on
// refusal the store is unchanged.
struct AddResult {
  int64_t value = 0;
  std::string error;
};
AddResult apply_add(KeyValues& kv, const std::string& key, int64_t delta);

// The keys not in the store, in the order asked.
std::vector<std::string> missing_keys(const KeyValues& kv, const std::vector<std::string>& keys);

// What a timeout reports: what never came (keys, or a barrier's ranks), and a barrier's ranks that came but left
// first. Ranks are decimal text.
struct Missing {
  std::vector<std::string> never, left;
};

// One named barrier until it completes. Waiter is how the transport reaches a waiting rank (its connection, or a
// flag its thread waits on).
template <typename Waiter>
struct Barrier {
  int64_t world_size = 0;
  std::map<int64_t, Waiter> arrived;  // rank -> its waiter
  std::set<int64_t> left;             // arrived, then timed out or disconnected
};
template <typename Waiter>
using Barriers = std::map<std::string, Barrier<Waiter>>;

// Why `rank` cannot join a barrier of `world_size` under `name`, or "" when it may. `existing_size` and
// `first_arrived` describe the ranks already waiting there (none: nullopt), `rank_waiting` whether `rank` is one.
std::string barrier_join_error(const std::string& name, int64_t world_size, int64_t rank, int64_t existing_size,
                               std::optional<int64_t> first_arrived, bool rank_waiting);

// Adds `rank` to barrier `name`; returns "" or why it cannot join (the barriers are then unchanged).
template <typename Waiter>
std::string join_barrier(Barriers<Waiter>& barriers, const std::string& name, int64_t world_size, int64_t rank,
                         Waiter waiter) {
  std::string error = barrier_join_error(name, world_size, rank, world_size, std::nullopt, false);
  if (!error.empty()) return error;
  auto it = barriers.find(name);
  if (it != barriers.end() && it->second.arrived.empty() && it->second.world_size != world_size)
    barriers.erase(it);  // only ranks that already gave up disagree: a new barrier under an old name
  else if (it != barriers.end() && !it->second.arrived.empty())
    error = barrier_join_error(name, world_size, rank, it->second.world_size, it->second.arrived.begin()->first,
                               it->second.arrived.count(rank) > 0);
  if (!error.empty()) return error;
  Barrier<Waiter>& b = barriers[name];
  b.world_size = world_size;
  b.arrived[rank] = std::move(waiter);
  b.left.erase(rank);  // came back after giving up
  return "";
}

// When every rank of barrier `name` has arrived: its waiters, to release, and the name is free again.
template <typename Waiter>
std::optional<std::map<int64_t, Waiter>> take_if_complete(Barriers<Waiter>& barriers, const std::string& name) {
  auto it = barriers.find(name);
  if (it == barriers.end() || static_cast<int64_t>(it->second.arrived.size()) < it->second.world_size)
    return std::nullopt;
  std::map<int64_t, Waiter> waiters = std::move(it->second.arrived);
  barriers.erase(it);
  return waiters;
}

// `rank` timed out in barrier `name`: what it reports, and it no longer counts as arrived. The ranks that never
// came are named; ranks that came and gave up earlier are named only when nobody is missing: they are a
// consequence in the first case and the whole explanation in the second.
template <typename Waiter>
Missing give_up_barrier(Barriers<Waiter>& barriers, const std::string& name, int64_t rank) {
  Missing out;
  auto it = barriers.find(name);
  if (it == barriers.end()) return out;
  Barrier<Waiter>& b = it->second;
  for (int64_t r = 0; r < b.world_size; ++r)
    if (!b.arrived.count(r) && !b.left.count(r)) out.never.push_back(std::to_string(r));
  if (out.never.empty())
    for (int64_t r : b.left) out.left.push_back(std::to_string(r));
  b.arrived.erase(rank);
  b.left.insert(rank);
  return out;
}

}  // namespace kiln::cluster::detail
