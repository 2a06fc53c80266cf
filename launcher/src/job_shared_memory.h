// Open MPI's shared-memory transport (btl vader) keeps a backing file per rank in /dev/shm and removes it in
// MPI_Finalize, which a killed or aborted rank never reaches: every aborted job would leave megabytes behind. For a
// job on this host the launcher gives the ranks a directory of their own (btl_vader_backing_directory) and removes
// it, with whatever is left in it, when the job ends, however it ends. A launcher that is itself killed cannot: the
// next launch removes the directories of launchers that are no longer alive.
#pragma once
#include <string>

namespace kiln::launcher {

class JobSharedMemory {
 public:
  static constexpr const char* kMcaVariable = "OMPI_MCA_btl_vader_backing_directory";

  // Creates <root>/kiln-job-<this pid> (after removing those of dead launchers). When `root` is not a writable
  // directory, dir() is empty and Open MPI keeps its default.
  explicit JobSharedMemory(const std::string& root = "/dev/shm");
  ~JobSharedMemory();
  JobSharedMemory(const JobSharedMemory&) = delete;
  JobSharedMemory& operator=(const JobSharedMemory&) = delete;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

}  // namespace kiln::launcher
