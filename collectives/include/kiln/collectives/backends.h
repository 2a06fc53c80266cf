// Constructors of the Communicator backends.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kiln/collectives/communicator.h"

namespace kiln::collectives {

// MPI: CPU tensors. One background thread per communicator owns all MPI calls and runs collectives in submission
// order (so an all-reduce progresses while the caller keeps computing, e.g. backward). Needs an MpiSession alive.
// MPI is initialised with MPI_THREAD_SERIALIZED, so one MPI communicator may be alive at a time (a second one
// throws unless the host program initialised MPI with MPI_THREAD_MULTIPLE), and the program's own MPI calls must
// not overlap a pending Work. Destroying a communicator first runs what is still queued; after abort() it waits
// up to 1 s for the call in flight and otherwise leaves the thread inside MPI: the process must then exit (kiln
// exits with code 4), and MpiSession skips MPI_Finalize.
class MpiSession {  // RAII MPI_Init_thread / MPI_Finalize (finalize skipped after an abort)
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  static bool active();
};
std::unique_ptr<Communicator> make_mpi_communicator();

// In-process thread backend: `world_size` communicators that talk through shared memory; give each to one thread.
std::vector<std::unique_ptr<Communicator>> make_thread_world(int world_size);

// NCCL: CUDA tensors on `device`, its own stream; `unique_id` (NCCL's 128-byte id) is shared by rank 0 out of band.
bool nccl_available();  // compiled in (CUDA + NCCL found at build time)
int nccl_device_count();  // CUDA devices usable by the NCCL backend (0 without NCCL, a driver or a device)
std::string nccl_make_unique_id();  // rank 0: the bytes to distribute
// Inputs are ordered after work on the legacy default stream (LibTorch's default); abort() is ncclCommAbort.
// Without NCCL compiled in, these throw kiln::Error("built without NCCL").
std::unique_ptr<Communicator> make_nccl_communicator(int rank, int size, int device, const std::string& unique_id);

}  // namespace kiln::collectives
