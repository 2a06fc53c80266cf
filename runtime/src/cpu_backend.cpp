#include "cpu_backend.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "kiln/common/env.h"
#include "kiln/common/env_knobs.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::runtime {
namespace {

// The first IPv4 address `host` resolves to, "" when it does not.
std::string ipv4_of(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || !found) return "";
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text, sizeof text);
  freeaddrinfo(found);
  return text;
}

}  // namespace

bool cpu_backend_is_gloo(const cluster::RankInfo& rank) {
  const std::string choice = env_string(knob::kCpuBackend);
  if (choice == "gloo") return true;
  if (choice == "mpi") return false;
  if (choice == "auto") return rank.source == "torchrun";
  throw UsageError("KILN_CPU_BACKEND='" + choice + "': expected mpi, gloo or auto");
}

collectives::GlooOptions gloo_options(const cluster::RankInfo& rank) {
  collectives::GlooOptions o;
  const std::string names = env_string("GLOO_SOCKET_IFNAME");
  o.interface = names.substr(0, names.find(','));
  if (!o.interface.empty() || rank.local_world_size >= rank.world_size) return o;
  const std::string host = host_name();
  const std::string address = ipv4_of(host);
  if (address.rfind("127.", 0) == 0)
    throw UsageError(log::cat(rank.str(), ": this host's name '", host, "' resolves to ", address,
                              " (loopback), which the ranks on other hosts cannot reach: set GLOO_SOCKET_IFNAME to "
                              "the network interface the hosts share (e.g. eth0), or network.interface in the "
                              "cluster file"));
  return o;
}

}  // namespace kiln::runtime
