// How a Gloo communicator's ranks find each other: a TCP device on the chosen address and a full mesh of
// connections, with the addresses exchanged through a kiln cluster::Store.
#pragma once
#include <memory>

#include <gloo/context.h>

#include "kiln/collectives/backends.h"

namespace kiln::collectives::detail {

std::shared_ptr<gloo::Context> gloo_connect(cluster::Store& store, int rank, int size, const GlooOptions& options);

}  // namespace kiln::collectives::detail
