// A namespace inside another store (after c10d's PrefixStore): every key and barrier name gets "<prefix>/" in front,
// so each restart attempt or subsystem has its own keys and cannot see, or collide with, anyone else's.
#pragma once
#include <string>

#include "kiln/cluster/store.h"

namespace kiln::cluster {

// Does not own `inner`, which must outlive it. Messages from `inner` name the full, prefixed key. Nests:
// PrefixStore("b", PrefixStore("a", s)) uses "a/b/<key>".
class PrefixStore : public Store {
 public:
  PrefixStore(std::string prefix, Store& inner);

  void set(const std::string& key, const std::string& value) override;
  std::string get(const std::string& key, std::chrono::milliseconds timeout) override;
  int64_t add(const std::string& key, int64_t delta) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  void barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) override;

  int rank() const override;
  std::string server() const override;

  const std::string& prefix() const { return prefix_; }
  std::string key(const std::string& k) const;  // "<prefix>/<k>": the key `inner` sees

 private:
  std::string prefix_;
  Store& inner_;
};

}  // namespace kiln::cluster
