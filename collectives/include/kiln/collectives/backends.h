// Constructors of the Communicator backends.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kiln/collectives/communicator.h"

namespace kiln::cluster {
class Store;
}

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
// The MPI library kiln was linked with, as it names itself ("Open MPI v4.1.4"); callable before MPI_Init. In a
// build without MPI (KILN_WITH_MPI=OFF) the MpiSession constructor and make_mpi_communicator throw kiln::Error
// naming the option, and this says the build has none.
std::string mpi_library_version();

// Gloo: CPU tensors over TCP between processes, with no MPI world: what torchrun users run on CPU. The ranks
// rendezvous through `store` (kiln's control-plane store, or any cluster::Store): each rank announces the address of
// its listening sockets there and connects to every other rank (a full mesh). Gloo's keys are fixed names, so give
// each communicator its own namespace (cluster::PrefixStore), e.g. per restart attempt. All-reduce is Gloo's ring.
// Like the MPI backend, one background thread makes every Gloo call, in submission order, and abort() finishes the
// Works at once while the thread may still wait inside Gloo; a peer's death closes its sockets and fails the
// collective in flight promptly, a lost host only after `timeout`.
struct GlooOptions {
  std::string interface;  // the NIC whose address this rank binds and announces ("eth0"); "" = `hostname`
  std::string hostname;   // the name or address to bind and announce; "" = this host's name (gethostname)
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};  // the rendezvous, and each wait in a collective
};
bool gloo_available();  // compiled in (Gloo found at build time)
// Throws kiln::Error naming the rank and the store when the rendezvous fails, and UsageError for an interface
// without an address. Without Gloo compiled in, throws kiln::Error("built without Gloo").
std::unique_ptr<Communicator> make_gloo_communicator(cluster::Store& store, int rank, int size,
                                                     const GlooOptions& options = {});

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
