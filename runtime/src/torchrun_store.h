// Under torchrun with no kiln launcher, how the ranks find rank 0's control plane: through torch's own rendezvous
// store at MASTER_ADDR:MASTER_PORT (c10d's TCPStore, from LibTorch), exactly as PyTorch's env:// initialisation
// reaches it. With torchrun's static rendezvous (the default) the node-0 agent already serves that store and the
// workers are its clients, under the prefix "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>"; with --rdzv_backend
// c10d (or --standalone) nobody listens there and rank 0 serves it. Only a few hundred bytes ever travel this way:
// kiln's own store (the control plane) carries everything else.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "kiln/cluster/rank_env.h"

namespace kiln::runtime {

class TorchrunStore {
 public:
  TorchrunStore(const cluster::RankInfo& rank, std::chrono::milliseconds timeout);
  ~TorchrunStore();  // rank 0's server lives as long as this object: keep it until every rank has read
  TorchrunStore(const TorchrunStore&) = delete;
  TorchrunStore& operator=(const TorchrunStore&) = delete;

  // Rank 0 stores `mine` under `key`; every rank returns rank 0's value (waiting up to the timeout). Throws
  // kiln::Error naming MASTER_ADDR:MASTER_PORT and the key.
  std::string share_from_root(const std::string& key, const std::string& mine);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  cluster::RankInfo rank_;
};

}  // namespace kiln::runtime
