// Ordered parallel production of a sequence: worker threads claim item numbers in order under the lock, build the
// item outside it, and park it in a reorder buffer; next() hands items out strictly in order. Claims never run more
// than `prefetch` items ahead of the consumer, which bounds memory and keeps an early-destroyed producer from doing
// much wasted work. A failed item stops production past it and its exception is rethrown from next() when the
// consumer reaches it (every earlier item is still delivered). The classification and detection loaders use it.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace kiln::data {

template <typename T>
class OrderedPrefetcher {
 public:
  // make(i, stopping) builds item i; it may return early (its item is discarded) once `stopping` is set.
  using Make = std::function<T(size_t, const std::atomic<bool>&)>;

  // num_workers 0: items are built in next()'s thread.
  OrderedPrefetcher(size_t count, int num_workers, size_t prefetch, Make make)
      : count_(count), prefetch_(std::max<size_t>(prefetch, 1)), make_(std::move(make)) {
    const size_t threads = std::min<size_t>(static_cast<size_t>(std::max(num_workers, 0)), count_);
    for (size_t t = 0; t < threads; ++t) workers_.emplace_back([this] { worker_loop(); });
  }
  ~OrderedPrefetcher() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    stopping_ = true;
    cv_consumed_.notify_all();
    cv_produced_.notify_all();
    for (auto& t : workers_) t.join();
  }
  OrderedPrefetcher(const OrderedPrefetcher&) = delete;
  OrderedPrefetcher& operator=(const OrderedPrefetcher&) = delete;

  size_t size() const { return count_; }

  std::optional<T> next() {
    if (next_to_consume_ >= count_) return std::nullopt;
    if (workers_.empty()) {
      T item = make_(next_to_consume_, stopping_);  // a throw leaves the position where it was
      ++next_to_consume_;
      return item;
    }
    std::unique_lock<std::mutex> lk(mu_);
    const size_t want = next_to_consume_;
    // Every item before a failed one was claimed before it, so waiting for `want` < error_item_ always ends.
    cv_produced_.wait(lk, [&] { return ready_.count(want) > 0 || error_item_ <= want; });
    auto it = ready_.find(want);
    if (it == ready_.end()) std::rethrow_exception(error_);
    T item = std::move(it->second);
    ready_.erase(it);
    ++next_to_consume_;
    lk.unlock();
    cv_consumed_.notify_all();
    return item;
  }

 private:
  void worker_loop() {
    std::unique_lock<std::mutex> lk(mu_);
    while (true) {
      cv_consumed_.wait(lk, [this] {
        return stop_ || next_to_produce_ >= std::min(count_, error_item_) ||
               next_to_produce_ < next_to_consume_ + prefetch_;
      });
      if (stop_ || next_to_produce_ >= std::min(count_, error_item_)) return;
      const size_t i = next_to_produce_++;
      lk.unlock();
      std::optional<T> item;
      std::exception_ptr err;
      try {
        item.emplace(make_(i, stopping_));
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      if (err) {
        if (i < error_item_) {
          error_item_ = i;
          error_ = err;
        }
        cv_consumed_.notify_all();  // idle workers re-check: nothing past the failed item is wanted
      } else if (i < error_item_) {
        ready_.emplace(i, std::move(*item));
      }
      cv_produced_.notify_all();
    }
  }

  const size_t count_, prefetch_;
  const Make make_;
  size_t next_to_produce_ = 0, next_to_consume_ = 0;
  std::map<size_t, T> ready_;
  std::exception_ptr error_;
  size_t error_item_ = SIZE_MAX;  // lowest item whose production failed; nothing at or after it is produced
  bool stop_ = false;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_produced_, cv_consumed_;
  std::vector<std::thread> workers_;  // last: started once everything above exists, joined first
};

}  // namespace kiln::data
