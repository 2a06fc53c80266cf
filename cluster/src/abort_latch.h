// A rank's side of ABORT, whatever carries it: the first reason wins, the on_abort hook runs once (at once when it
// is registered after the abort), a rank's own abort never runs its hook, and after disarm() no hook runs.
// ControlPlaneClient and LocalControlPlane's monitors both keep their abort state here. Private to kiln_cluster.
#pragma once
#include <functional>
#include <mutex>
#include <string>

namespace kiln::cluster::detail {

class AbortLatch {
 public:
  using Hook = std::function<void(const std::string& reason)>;
  explicit AbortLatch(int rank) : rank_(rank) {}

  // An ABORT arrived: recorded, logged, and the hook called on this thread, unless the job was already aborted.
  void deliver(const std::string& reason);
  // This rank aborts the job: recorded (unless an ABORT came first) and logged; the hook is never called.
  void abort_self(const std::string& reason);
  void on_abort(Hook hook);
  // From now on no hook runs; a hook running on another thread is waited for. Safe inside the hook.
  void disarm();

  bool aborted() const;
  std::string reason() const;

 private:
  void call(const Hook& hook, const std::string& reason);

  const int rank_;
  mutable std::mutex mu_;  // guards the state below
  bool aborted_ = false;
  bool delivered_ = false;  // the hook has been (or must never be) called
  bool disarmed_ = false;
  std::string reason_;
  Hook hook_;
  std::recursive_mutex calling_;  // held while the hook runs (recursive: the hook may disarm)
};

}  // namespace kiln::cluster::detail
