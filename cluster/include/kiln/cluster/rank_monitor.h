// A rank's link to the job's failure detection: it reports the step it is at, hears ABORT when another rank (or the
// launcher) fails, and can abort the job itself. ControlPlaneClient (control_plane.h) is the real one, over TCP
// with heartbeats; LocalControlPlane (local_control_plane.h) gives ranks run as threads the same ABORT semantics
// in one process. Code that reacts to aborts (runtime's Distributed) takes a RankMonitor, so tests drive it
// without processes. Semantics: docs/control_plane.md "Liveness and ABORT".
#pragma once
#include "kiln/common/error.h"
#include <cstdint>
#include <functional>
#include <string>

namespace kiln::cluster {

class RankMonitor {
 public:
  virtual ~RankMonitor() = default;

  // The step named in failure messages. Cheap: called every training step.
  virtual void set_step(int64_t step) = 0;

  // Called once, with the reason, when the job is aborted by anyone but this rank; on the monitor's own thread
  // (ControlPlaneClient) or the thread that aborted the job (LocalControlPlane). Registered after the abort
  // already happened: called right away on the calling thread. Not called after this rank's own abort().
  virtual void on_abort(std::function<void(const std::string& reason)> callback) = 0;
  virtual bool aborted() const = 0;
  virtual std::string abort_reason() const = 0;

  // Aborts the whole job: every other rank hears "rank R (host H) aborted at step S: <reason>".
  virtual void abort(const std::string& reason) = 0;
  // As abort(), also telling the launcher what kind of failure it was (ExitCode::kData for a data error, kUsage for a
  // bad spec), so the job can exit with the cause rather than "a rank failed". Where no launcher listens: abort().
  virtual void abort_with_cause(const std::string& reason, ExitCode cause) {
    (void)cause;
    abort(reason);
  }

  // Called once when the launcher asks the job to stop (STOP, carrying the signal it received), on the monitor's
  // thread; registered after the STOP arrived: called right away. The trainer treats it as that signal: the ranks
  // agree on a step, checkpoint there and exit. Monitors without a launcher never call it.
  virtual void on_stop(std::function<void(int signo)> callback) { (void)callback; }

  // A clean exit (GOODBYE): this rank is not reported as failed afterwards, and no on_abort callback runs once
  // close() has returned. Idempotent; safe inside the on_abort callback.
  virtual void close() = 0;

  virtual int rank() const = 0;
};

}  // namespace kiln::cluster
