// The NCCL entry points of a build without CUDA/NCCL (KILN_HAVE_NCCL undefined).
#ifndef KILN_HAVE_NCCL
#include <string>

#include "kiln/collectives/backends.h"
#include "kiln/common/error.h"

namespace kiln::collectives {

bool nccl_available() { return false; }
int nccl_device_count() { return 0; }
std::string nccl_make_unique_id() { throw Error("built without NCCL"); }
std::unique_ptr<Communicator> make_nccl_communicator(int, int, int, const std::string&) {
  throw Error("built without NCCL");
}

}  // namespace kiln::collectives
#endif
