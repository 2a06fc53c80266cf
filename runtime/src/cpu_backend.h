// Which communicator CPU ranks use (KILN_CPU_BACKEND), and how a Gloo communicator finds its address.
#pragma once
#include "kiln/cluster/rank_env.h"
#include "kiln/collectives/backends.h"

namespace kiln::runtime {

// KILN_CPU_BACKEND: "gloo", "mpi", or "auto" (the default): Gloo for ranks torchrun started (they have no MPI
// world), MPI for every other launcher. Throws UsageError for any other value.
bool cpu_backend_is_gloo(const cluster::RankInfo& rank);

// The first interface of GLOO_SOCKET_IFNAME (torch's name for it; kiln's launcher sets it from network.interface),
// else this host's name. A job across hosts whose host name resolves to loopback (Debian's 127.0.1.1) is refused
// with a UsageError: the other hosts could never connect.
collectives::GlooOptions gloo_options(const cluster::RankInfo& rank);

}  // namespace kiln::runtime
