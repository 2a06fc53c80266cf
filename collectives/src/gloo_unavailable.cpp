// The Gloo entry points of a build without Gloo (KILN_HAVE_GLOO undefined).
#ifndef KILN_HAVE_GLOO
#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"

namespace kiln::collectives {

bool gloo_available() { return false; }
std::unique_ptr<Communicator> make_gloo_communicator(cluster::Store&, int, int, const GlooOptions&) {
  throw Error("built without Gloo (install libgloo-dev and reconfigure): use mpirun or kiln's launcher on CPU");
}

}  // namespace kiln::collectives
#endif
