// Where the launcher's control plane listens (control_plane.h): no wider than the job needs.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <memory>

#include "kiln/cluster/control_plane.h"

namespace kiln::cluster {
namespace {

// The first IPv4 address of interface `name`, or "" when it has none.
std::string ipv4_of_interface(const std::string& name) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  const std::unique_ptr<ifaddrs, void (*)(ifaddrs*)> owner(list, ::freeifaddrs);
  for (const ifaddrs* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || name != a->ifa_name) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text)) return text;
  }
  return "";
}

bool is_ipv4_literal(const std::string& text) {
  in_addr ignored{};
  return ::inet_pton(AF_INET, text.c_str(), &ignored) == 1;
}

}  // namespace

std::string control_plane_bind_address(const ClusterConfig& config, bool single_host) {
  if (single_host) return "127.0.0.1";
  if (!config.network.master_addr.empty() && is_ipv4_literal(config.network.master_addr))
    return config.network.master_addr;
  // The ranks' NIC may not exist on the host that launches (a login node): then every interface.
  const std::string& nic = config.network.interface;
  const std::string address = nic.empty() || nic.find(',') != std::string::npos ? "" : ipv4_of_interface(nic);
  return address.empty() ? "0.0.0.0" : address;
}

}  // namespace kiln::cluster
