#include "abort_latch.h"

#include "kiln/common/log.h"

namespace kiln::cluster::detail {

void AbortLatch::deliver(const std::string& reason) {
  Hook hook;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_) return;
    aborted_ = true;
    reason_ = reason;
    if (hook_) {
      delivered_ = true;
      hook = hook_;
    }
  }
  log::error("control plane: rank " + std::to_string(rank_) + " received ABORT: " + reason);
  if (hook) call(hook, reason);
}

void AbortLatch::abort_self(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!aborted_) reason_ = reason;
    aborted_ = true;
    delivered_ = true;  // this rank is already handling its own failure
  }
  log::error("control plane: rank " + std::to_string(rank_) + " aborts the job: " + reason);
}

void AbortLatch::on_abort(Hook hook) {
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hook_ = hook;
    if (!aborted_ || delivered_ || !hook) return;
    delivered_ = true;
    reason = reason_;
  }
  call(hook, reason);  // the abort came before the hook: deliver it now rather than never
}

void AbortLatch::disarm() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    disarmed_ = true;
  }
  std::lock_guard<std::recursive_mutex> wait_for_hook(calling_);
}

void AbortLatch::call(const Hook& hook, const std::string& reason) {
  std::lock_guard<std::recursive_mutex> lock(calling_);
  {
    std::lock_guard<std::mutex> state(mu_);
    if (disarmed_) return;
  }
  hook(reason);
}

bool AbortLatch::aborted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aborted_;
}

std::string AbortLatch::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

}  // namespace kiln::cluster::detail
