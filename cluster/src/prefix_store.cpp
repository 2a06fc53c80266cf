#include "kiln/cluster/prefix_store.h"

#include "kiln/common/error.h"

namespace kiln::cluster {

PrefixStore::PrefixStore(std::string prefix, Store& inner) : prefix_(std::move(prefix)), inner_(inner) {
  if (prefix_.empty()) throw UsageError("PrefixStore: an empty prefix would share the namespace it should separate");
}

std::string PrefixStore::key(const std::string& k) const { return prefix_ + "/" + k; }

void PrefixStore::set(const std::string& k, const std::string& value) { inner_.set(key(k), value); }

std::string PrefixStore::get(const std::string& k, std::chrono::milliseconds timeout) {
  return inner_.get(key(k), timeout);
}

int64_t PrefixStore::add(const std::string& k, int64_t delta) { return inner_.add(key(k), delta); }

void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  std::vector<std::string> prefixed;
  prefixed.reserve(keys.size());
  for (const auto& k : keys) prefixed.push_back(key(k));
  inner_.wait(prefixed, timeout);
}

void PrefixStore::barrier(const std::string& name, int world_size, std::chrono::milliseconds timeout) {
  inner_.barrier(key(name), world_size, timeout);
}

int PrefixStore::rank() const { return inner_.rank(); }
std::string PrefixStore::server() const { return inner_.server(); }

}  // namespace kiln::cluster
