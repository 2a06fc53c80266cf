// The stores the behavioural suite runs against, behind one face: a StoreWorld hands out a store as seen by rank r
// (a TCP connection, a HashStore handle, a PrefixStore over either) and says how a key appears in messages.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "kiln/cluster/hash_store.h"
#include "kiln/cluster/prefix_store.h"
#include "kiln/cluster/tcp_store.h"
#include "kiln/common/error.h"

namespace kiln::cluster::test {

class StoreWorld {
 public:
  virtual ~StoreWorld() = default;
  // A new store for rank r: its own connection or handle, all on the same data. Owned by the caller.
  virtual std::unique_ptr<Store> rank(int r) = 0;
  // How key (or barrier name) k appears in error messages.
  virtual std::string shown(const std::string& k) const { return k; }
};

class TcpWorld : public StoreWorld {
 public:
  std::unique_ptr<Store> rank(int r) override {
    StoreClientOptions o = client_options(server_, r);
    o.peer_host = "node0" + std::to_string(r);
    return std::make_unique<StoreClient>(o);
  }

 private:
  StoreServer server_{server_options()};
};

class HashWorld : public StoreWorld {
 public:
  std::unique_ptr<Store> rank(int r) override { return std::make_unique<HashStore>(store_.handle(r)); }

 private:
  HashStore store_;
};

// A PrefixStore over every store another world hands out; the inner stores live as long as this world.
class PrefixWorld : public StoreWorld {
 public:
  explicit PrefixWorld(std::unique_ptr<StoreWorld> inner) : inner_(std::move(inner)) {}
  std::unique_ptr<Store> rank(int r) override {
    auto inner = inner_->rank(r);
    auto outer = std::make_unique<PrefixStore>("attempt-1", *inner);
    std::lock_guard<std::mutex> lock(mu_);
    kept_.push_back(std::move(inner));
    return outer;
  }
  std::string shown(const std::string& k) const override { return "attempt-1/" + k; }

 private:
  std::unique_ptr<StoreWorld> inner_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Store>> kept_;
};

// Runs body(rank, store) on one thread per rank, each with its own store from `world`; returns each rank's error
// message ("" if none).
inline std::vector<std::string> run_ranks(StoreWorld& world, const std::vector<int>& ranks,
                                          const std::function<void(int, Store&)>& body) {
  std::vector<std::string> errors(ranks.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ranks.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        auto store = world.rank(ranks[i]);
        body(ranks[i], *store);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

// The message of the kiln::Error that f throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kiln::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace kiln::cluster::test
