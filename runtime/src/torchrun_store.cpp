#include "torchrun_store.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/common/torch_compat.h"

namespace kiln::runtime {

struct TorchrunStore::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  std::string where;  // "MASTER_ADDR:MASTER_PORT", for messages
};

namespace {

// What torch.distributed's env:// does (torch/distributed/rendezvous.py, _create_c10d_store).
c10::intrusive_ptr<c10d::Store> connect(const cluster::RankInfo& rank, std::chrono::milliseconds timeout) {
  const bool agent_store = env_string("TORCHELASTIC_USE_AGENT_STORE") == "True";
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(rank.master_port);
  o.isServer = !agent_store && rank.rank == 0;
  o.numWorkers = static_cast<std::size_t>(rank.world_size);
  o.waitWorkers = false;
  o.timeout = timeout;
  o.multiTenant = true;
  torch_compat::use_classic_tcpstore(o);
  auto tcp = c10::make_intrusive<c10d::TCPStore>(rank.master_addr, o);
  if (!agent_store) return tcp;
  const std::string attempt = env_string("TORCHELASTIC_RESTART_COUNT");
  return c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + (attempt.empty() ? "0" : attempt), tcp);
}

}  // namespace

TorchrunStore::TorchrunStore(const cluster::RankInfo& rank, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()), rank_(rank) {
  impl_->where = rank.master_addr + ":" + std::to_string(rank.master_port);
  if (rank.master_addr.empty() || rank.master_port <= 0)
    throw UsageError(log::cat(rank.str(), ": ranks without an MPI world find rank 0 through torchrun's MASTER_ADDR and "
                              "MASTER_PORT, which are not both set (start them with torchrun or kiln's launcher, or "
                              "use KILN_CPU_BACKEND=mpi)"));
  try {
    impl_->store = connect(rank, timeout);
  } catch (const std::exception& e) {
    throw Error(log::cat(rank.str(), " on ", host_name(), ": cannot reach torchrun's store at ", impl_->where, ": ",
                         e.what()),
                ExitCode::kRankFailed);
  }
}

TorchrunStore::~TorchrunStore() = default;

std::string TorchrunStore::share_from_root(const std::string& key, const std::string& mine) {
  try {
    if (rank_.rank == 0) {
      impl_->store->set(key, std::vector<uint8_t>(mine.begin(), mine.end()));
      return mine;
    }
    const std::vector<uint8_t> value = impl_->store->get(key);
    return std::string(value.begin(), value.end());
  } catch (const std::exception& e) {
    throw Error(log::cat(rank_.str(), " on ", host_name(), ": key '", key, "' in torchrun's store at ", impl_->where,
                         ": ", e.what()),
                ExitCode::kRankFailed);
  }
}

}  // namespace kiln::runtime
