// HashStore: one mutex over the data, one condition variable every blocked call waits on. Every change wakes all
// waiters and each re-checks its own condition: the store is for a handful of ranks, not for throughput.
#include "kiln/cluster/hash_store.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "store_errors.h"
#include "store_protocol.h"
#include "store_rules.h"

namespace kiln::cluster {

namespace {

// As the TCP server: negative means "look once", and absurd timeouts stay far from steady_clock overflow.
std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  return std::chrono::steady_clock::now() + std::clamp(timeout, std::chrono::milliseconds(0), detail::kMaxTimeout);
}

// Waits on `changed` until pred holds or `timeout` passes; returns pred(). A timeout of 0 (or less) looks once
// without releasing the lock, as the TCP server answers such a request at once: nobody can slip in between.
template <typename Pred>
bool wait_for(std::condition_variable& changed, std::unique_lock<std::mutex>& lock, std::chrono::milliseconds timeout,
              Pred pred) {
  if (timeout.count() <= 0) return pred();
  return changed.wait_until(lock, deadline_after(timeout), pred);
}

// A barrier waiter: set once everyone has arrived. Shared so the completing thread can reach a waiter's flag.
using Released = std::shared_ptr<bool>;

}  // namespace

struct HashStore::Shared {
  explicit Shared(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::mutex mu;
  std::condition_variable changed;  // a key was set, or a barrier completed
  detail::KeyValues kv;
  detail::Barriers<Released> barriers;
};

HashStore::HashStore(int rank, std::string name) : HashStore(std::make_shared<Shared>(std::move(name)), rank) {}

HashStore::HashStore(std::shared_ptr<Shared> shared, int rank) : shared_(std::move(shared)), rank_(rank) {}

HashStore HashStore::handle(int rank) const { return HashStore(shared_, rank); }

std::string HashStore::server() const { return shared_->name; }

void HashStore::set(const std::string& key, const std::string& value) {
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->kv[key] = value;
  }
  shared_->changed.notify_all();
}

std::string HashStore::get(const std::string& key, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  const auto& kv = shared_->kv;
  if (!wait_for(shared_->changed, lock, timeout, [&] { return kv.count(key) > 0; }))
    throw detail::get_timed_out(key, timeout, rank_, server());
  return kv.at(key);
}

int64_t HashStore::add(const std::string& key, int64_t delta) {
  detail::AddResult result;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    result = detail::apply_add(shared_->kv, key, delta);
  }
  if (!result.error.empty()) throw detail::request_refused(detail::describe_add(key), rank_, result.error);
  shared_->changed.notify_all();
  return result.value;
}

void HashStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  const auto& kv = shared_->kv;
  if (!wait_for(shared_->changed, lock, timeout, [&] { return detail::missing_keys(kv, keys).empty(); }))
    throw detail::wait_timed_out(keys, timeout, detail::missing_keys(kv, keys), rank_, server());
}

void HashStore::barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  auto released = std::make_shared<bool>(false);
  const std::string refused = detail::join_barrier(shared_->barriers, name, world_size, rank_, released);
  if (!refused.empty()) throw detail::request_refused(detail::describe_barrier(name), rank_, refused);
  if (auto everyone = detail::take_if_complete(shared_->barriers, name)) {
    for (auto& [rank, flag] : *everyone) *flag = true;
    lock.unlock();
    shared_->changed.notify_all();
    return;
  }
  if (wait_for(shared_->changed, lock, timeout, [&] { return *released; })) return;
  throw detail::barrier_timed_out(name, timeout, detail::give_up_barrier(shared_->barriers, name, rank_));
}

}  // namespace kiln::cluster
