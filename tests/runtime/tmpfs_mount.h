// A small tmpfs mounted for one test, so a full disk (ENOSPC) can be had on demand. Unmounted and removed in the
// destructor, whatever the test did; ok() is false (with why()) where mounting is not permitted (not root, or no
// CAP_SYS_ADMIN in a container), and the test skips.
#pragma once
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace kiln::runtime::testing {

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& size) {
    std::string tmpl = "/tmp/kiln_tmpfs_" + std::to_string(::getpid()) + "_XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      why_ = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    path_ = tmpl;
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      why_ = "mounting a tmpfs is not permitted here (" + std::string(std::strerror(errno)) + ")";
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    if (mounted_ && ::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool ok() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_, why_;
  bool mounted_ = false;
};

}  // namespace kiln::runtime::testing
