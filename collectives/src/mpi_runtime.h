// Process-wide MPI facts shared by MpiSession and the MPI communicators (internal to kiln_collectives).
#pragma once

namespace kiln::collectives::detail {

// The thread level MPI provided. Below MPI_THREAD_MULTIPLE only one communicator (one MPI thread) may be alive.
int mpi_thread_level();
// A communicator left its thread inside an MPI call after an abort: MPI_Finalize would hang, so the session skips it.
void mpi_mark_abandoned();

}  // namespace kiln::collectives::detail
