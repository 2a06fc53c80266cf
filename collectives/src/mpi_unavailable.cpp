// The MPI entry points of a build without MPI (KILN_WITH_MPI=OFF; collectives/CMakeLists.txt compiles this file in
// place of mpi_session.cpp, mpi_communicator.cpp and mpi_half_ops.cpp). A single process, --gpus 1 and GPU ranks
// that kiln's launcher started need no MPI world; CPU ranks do (or Gloo, under torchrun).
#include <string>

#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"

namespace kiln::collectives {
namespace {

constexpr const char* kWithout =
    "kiln was built without MPI (KILN_WITH_MPI=OFF): ranks on CPU need an MPI build (reconfigure with "
    "-DKILN_WITH_MPI=ON), or Gloo under torchrun (KILN_CPU_BACKEND=gloo); a single process and --gpus 1 need none";

}  // namespace

MpiSession::MpiSession() { throw Error(kWithout); }
MpiSession::~MpiSession() = default;
bool MpiSession::active() { return false; }

std::unique_ptr<Communicator> make_mpi_communicator() { throw Error(kWithout); }

std::string mpi_library_version() { return "not built (KILN_WITH_MPI=OFF)"; }

}  // namespace kiln::collectives
