#ifdef KILN_HAVE_GLOO
#include "gloo_rendezvous.h"

#include <gloo/common/error.h>
#include <gloo/common/logging.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include "kiln/cluster/store.h"
#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::collectives::detail {
namespace {

// Gloo's view of a kiln store. get() must block until the key exists: connectFullMesh reads the addresses of the
// lower ranks without waiting for them first.
class GlooStore final : public gloo::rendezvous::Store {
 public:
  GlooStore(cluster::Store& store, std::chrono::milliseconds timeout) : store_(store), timeout_(timeout) {}

  void set(const std::string& key, const std::vector<char>& data) override {
    store_.set(key, std::string(data.begin(), data.end()));
  }
  std::vector<char> get(const std::string& key) override {
    const std::string value = store_.get(key, timeout_);
    return {value.begin(), value.end()};
  }
  void wait(const std::vector<std::string>& keys) override { store_.wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    store_.wait(keys, timeout);
  }

 private:
  cluster::Store& store_;
  const std::chrono::milliseconds timeout_;
};

std::shared_ptr<gloo::transport::Device> make_device(const GlooOptions& options) {
  gloo::transport::tcp::attr attr;
  std::string what;
  if (!options.interface.empty()) {
    attr.iface = options.interface;
    what = "network interface '" + options.interface + "'";
  } else {
    attr.hostname = options.hostname.empty() ? host_name() : options.hostname;
    what = "address of '" + attr.hostname + "'";
  }
  try {
    return gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {  // gloo::EnforceNotMet is not a std::runtime_error
    throw UsageError("gloo: cannot listen on the " + what + " of host " + host_name() + ": " + e.what() +
                     " (set network.interface in the cluster file, or GLOO_SOCKET_IFNAME, to a NIC this host has)");
  }
}

}  // namespace

std::shared_ptr<gloo::Context> gloo_connect(cluster::Store& store, int rank, int size, const GlooOptions& options) {
  auto device = make_device(options);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
  context->setTimeout(options.timeout);
  GlooStore gloo_store(store, options.timeout);
  try {
    context->connectFullMesh(gloo_store, device);
  } catch (const std::exception& e) {
    throw Error(log::cat("gloo rendezvous of rank ", rank, "/", size, " on ", host_name(), " through the store at ",
                         store.server(), ": ", e.what()),
                ExitCode::kRankFailed);
  }
  return context;
}

}  // namespace kiln::collectives::detail
#endif
