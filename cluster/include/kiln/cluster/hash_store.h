// The Store inside one process (after Gloo's HashStore): ranks run as threads share one store's data, each through
// its own handle that knows its rank, so barriers count ranks and messages name them as over TCP. Same semantics
// and error messages as the TCP store (the same rules decide every answer); waits block on a condition variable.
// For unit tests of code that takes a Store&, and for jobs that are one process.
#pragma once
#include <memory>
#include <string>

#include "kiln/cluster/store.h"

namespace kiln::cluster {

// A handle on the shared data. Copies are further handles on the same data (as the same rank); handle(r) gives
// rank r's. The data lives as long as any handle. Thread-safe.
class HashStore : public Store {
 public:
  // A new, empty store, seen as `rank`; `name` is where messages say the data lives.
  explicit HashStore(int rank = 0, std::string name = "in-memory");
  // Rank `rank`'s handle on this store's data.
  HashStore handle(int rank) const;

  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key, std::chrono::milliseconds timeout) override;
  int64_t add(const std::string& key, int64_t delta) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  void barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) override;

  int rank() const override { return rank_; }
  std::string server() const override;

  struct Shared;  // the keys and barriers every handle sees

 private:
  HashStore(std::shared_ptr<Shared> shared, int rank);
  std::shared_ptr<Shared> shared_;
  int rank_;
};

}  // namespace kiln::cluster
