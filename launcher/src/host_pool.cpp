#include "kiln/launcher/host_pool.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::launcher {
namespace {

constexpr int kStrikesToLeaveOut = 2;

// One non-blocking connect: "" when the host answered (connected, or refused), else why not.
std::string try_connect(const addrinfo& a, int timeout_ms) {
  const int fd = ::socket(a.ai_family, a.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.ai_protocol);
  if (fd < 0) return std::strerror(errno);
  int err = ::connect(fd, a.ai_addr, a.ai_addrlen) == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    const int ready = ::poll(&p, 1, timeout_ms);
    socklen_t len = sizeof err;
    if (ready == 0)
      err = ETIMEDOUT;
    else if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
  }
  ::close(fd);
  if (err == 0 || err == ECONNREFUSED) return "";
  return err == ETIMEDOUT ? "no answer within " + std::to_string(timeout_ms) + " ms" : std::strerror(err);
}

}  // namespace

std::string bare_host(const std::string& host) {
  const size_t at = host.find('@');
  return at == std::string::npos ? host : host.substr(at + 1);
}

std::string probe_tcp(const std::string& host, int timeout_ms) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(bare_host(host).c_str(), "22", &hints, &found);
  if (rc != 0) return std::string("cannot resolve it: ") + ::gai_strerror(rc);
  std::string why = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    why = try_connect(*a, timeout_ms);
    if (why.empty()) break;
  }
  ::freeaddrinfo(found);
  return why;
}

NodeRange parse_nnodes(const std::string& text) {
  const auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError("--nnodes " + text + ": expected MIN:MAX or N, whole numbers (e.g. 2:4)");
    return std::stoi(s);
  };
  const size_t colon = text.find(':');
  NodeRange r;
  r.min = number(text.substr(0, colon));
  r.max = colon == std::string::npos ? r.min : number(text.substr(colon + 1));
  if (r.min < 1 || r.min > r.max)
    throw UsageError("--nnodes " + text + ": need 1 <= MIN <= MAX");
  return r;
}

HostPool::HostPool(cluster::ClusterConfig config, NodeRange range) : config_(std::move(config)), range_(range) {
  const int hosts = static_cast<int>(config_.nodes.size());
  if (hosts != range_.max)
    throw UsageError("--nnodes " + std::to_string(range_.min) + ":" + std::to_string(range_.max) + ": the cluster file" +
                     (config_.source.empty() ? "" : " " + config_.source) + " lists " + std::to_string(hosts) +
                     " host(s); MAX is the hosts the job starts on");
}

std::string HostPool::host_of_rank(int rank) const {
  for (const cluster::RankPlace& p : cluster::place_ranks(config_))
    if (p.rank == rank) return p.host;
  return "";
}

void HostPool::blame(const std::string& host) {
  for (const cluster::Node& n : config_.nodes)
    if (n.host == host) ++strikes_[host];
}

std::vector<std::string> HostPool::prune(const HostProbe& probe) {
  std::vector<cluster::Node> kept;
  std::vector<std::string> notes, left_out;
  for (const cluster::Node& n : config_.nodes) {
    std::string why;
    if (strikes_[n.host] >= kStrikesToLeaveOut)
      why = "its ranks failed " + std::to_string(strikes_[n.host]) + " times";
    else if (std::string silent = probe(n.host); !silent.empty())
      why = "it does not answer (" + silent + ")";
    if (why.empty()) {
      kept.push_back(n);
    } else {
      left_out.push_back(n.host);
      notes.push_back("host " + n.host + " is left out: " + why);
    }
  }
  if (static_cast<int>(kept.size()) < range_.min) {
    std::string names;
    for (const std::string& h : left_out) names += (names.empty() ? "" : ", ") + h;
    std::string reasons;
    for (const std::string& n : notes) reasons += "; " + n;
    throw Error(log::cat("--nnodes ", range_.min, ":", range_.max, ": only ", kept.size(), " host(s) left (without ",
                         names, ")", reasons),
                ExitCode::kRankFailed);
  }
  config_.nodes = std::move(kept);
  return notes;
}

}  // namespace kiln::launcher
