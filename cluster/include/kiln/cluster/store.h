// The key-value store the ranks of a job share (after c10d's Store): set/get/add/wait, and a barrier that names the
// ranks that have not arrived when it times out. Code that needs a store takes a Store&, so it runs the same over
// the TCP store of a real job (StoreClient, tcp_store.h), an in-process one for ranks run as threads (HashStore,
// hash_store.h), or a namespace inside either (PrefixStore, prefix_store.h). Semantics and messages:
// docs/control_plane.md "Store semantics".
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cluster {

// Values are bytes: std::string may hold NULs. Every blocking call that times out throws kiln::Error with exit code
// kRankFailed naming what never came; implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  virtual void set(const std::string& key, const std::string& value) = 0;
  // Blocks until the key exists; after `timeout` throws naming the key and the timeout (0: look once).
  virtual std::string get(const std::string& key, std::chrono::milliseconds timeout) = 0;
  // Adds delta to the integer stored at key (absent = 0) and returns the new value; the value is kept as decimal
  // text, so get() on it returns e.g. "3". Throws when the value there is not an integer, or on overflow.
  virtual int64_t add(const std::string& key, int64_t delta) = 0;
  // Blocks until every key exists; after `timeout` throws naming the keys still missing.
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
  // Blocks until ranks 0 … world_size-1 (this one, rank(), counted once) have all entered barrier `name`; the name
  // can be reused once a barrier completes. After `timeout` throws naming the ranks that have not arrived, and this
  // rank stops counting as arrived.
  virtual void barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) = 0;

  virtual int rank() const = 0;              // the rank barriers count and messages name
  virtual std::string server() const = 0;    // where the data lives, for messages: "host:port", "in-memory"
};

}  // namespace kiln::cluster
