// MpiSession: MPI_Init_thread at most once per process, MPI_Finalize when the last session ends, unless a
// communicator abandoned its thread inside MPI after an abort (then finalize would wait for peers forever and the
// process is about to exit with kiln's code 4 anyway).
#include <mpi.h>

#include <atomic>
#include <mutex>
#include <string>

#include "kiln/collectives/backends.h"
#include "kiln/common/log.h"
#include "mpi_check.h"
#include "mpi_runtime.h"

namespace kiln::collectives {
namespace {

std::mutex g_mutex;
int g_sessions = 0;
bool g_owns_mpi = false;  // MPI was initialised by a session (not by the host program), so a session finalizes it
std::atomic<int> g_thread_level{-1};
std::atomic<bool> g_abandoned{false};

const char* level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
  }
  return "unknown";
}

}  // namespace

namespace detail {
int mpi_thread_level() { return g_thread_level.load(); }
void mpi_mark_abandoned() { g_abandoned = true; }
}  // namespace detail

MpiSession::MpiSession() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sessions > 0) {
    ++g_sessions;
    return;
  }
  int initialized = 0;
  int finalized = 0;
  KILN_MPI_CHECK(MPI_Initialized(&initialized));
  KILN_MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) throw Error("MPI was already finalized in this process; keep one MpiSession for the whole run");
  int provided = MPI_THREAD_SINGLE;
  if (initialized) {
    KILN_MPI_CHECK(MPI_Query_thread(&provided));
  } else {
    // SERIALIZED suffices: every MPI call of a communicator comes from its one background thread.
    KILN_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
    g_owns_mpi = true;
  }
  if (provided < MPI_THREAD_SERIALIZED) {
    if (g_owns_mpi) {
      g_owns_mpi = false;
      KILN_MPI_WARN(MPI_Finalize());  // under mpirun, a rank that never finalizes fails the whole job
    }
    throw Error(std::string("MPI provides only ") + level_name(provided) +
                "; kiln's MPI communicator needs MPI_THREAD_SERIALIZED (its background thread makes the MPI calls)");
  }
  g_thread_level = provided;
  ++g_sessions;
}

MpiSession::~MpiSession() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (--g_sessions > 0 || !g_owns_mpi) return;
  g_owns_mpi = false;
  if (g_abandoned) {
    log::warn("MPI_Finalize skipped: a collective was aborted while inside MPI");
    return;
  }
  KILN_MPI_WARN(MPI_Finalize());
}

bool MpiSession::active() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_sessions > 0;
}

std::string mpi_library_version() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);  // allowed before MPI_Init
  std::string v(version, static_cast<size_t>(len));
  const auto cut = v.find_first_of(",\n");
  return cut == std::string::npos ? v : v.substr(0, cut);
}

}  // namespace kiln::collectives
