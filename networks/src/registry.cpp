#include <mutex>

#include "kiln/common/error.h"
#include "kiln/networks/network.h"

namespace kiln::networks {

std::shared_ptr<Network> make_lenet5(Architecture arch);  // lenet5.cpp
std::shared_ptr<Network> make_resnet(Architecture arch);  // resnet.cpp
std::shared_ptr<Network> make_mobilenet_v2(Architecture arch);  // mobilenet_v2.cpp
std::shared_ptr<Network> make_detectnet_v2_network(Architecture arch);  // detectnet_v2.cpp

namespace {
std::mutex g_mu;
std::map<std::string, Factory>& registry() {
  static std::map<std::string, Factory> r{
      {"lenet5", make_lenet5},
      {"resnet", make_resnet},
      {"mobilenet_v2", make_mobilenet_v2},
      {"detectnet_v2", make_detectnet_v2_network}};
  return r;
}
}  // namespace

void register_network(const std::string& arch, Factory factory) {
  std::lock_guard<std::mutex> lock(g_mu);
  registry()[arch] = std::move(factory);
}

std::vector<std::string> network_names() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

std::shared_ptr<Network> create(const Architecture& arch) {
  Factory f;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = registry().find(arch.arch);
    if (it == registry().end()) {
      std::string known;
      for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
      throw UsageError("unknown network arch '" + arch.arch + "' (known: " + known + ")");
    }
    f = it->second;
  }
  return f(arch);
}

}  // namespace kiln::networks
