// SIGINT, SIGTERM and SIGUSR1 (Slurm's --signal) become a flag that long-running loops poll (the handler itself only
// stores the signal number). A training run reads it once per step: the ranks agree on the step to stop after, write a
// step-exact checkpoint and exit 128 + the signal (runtime/run.h). Other subtasks stop at their next item
// (throw_if_interrupted). The control plane's STOP sets the same flag on every rank (request_stop). Inside a
// training run, work between steps (validation) runs with interrupts deferred: the signal waits for the next step's
// agreement instead of throwing on one rank while the others block in a collective.
#pragma once
#include <string>

namespace kiln {

void install_interrupt_handlers();
int pending_signal();        // 0 when none
void throw_if_interrupted(); // throws kiln::Interrupted, unless an InterruptsDeferred lives
// Sets the flag as the signal `signo` would have (the launcher's STOP, tests). The first request wins.
void request_stop(int signo);
void raise_interrupt_for_test(int signo);
// "SIGINT", "SIGTERM", "SIGUSR1", else "signal N".
std::string signal_name(int signo);

// While one lives (on any thread), throw_if_interrupted() does not throw; the signal stays pending. Nests.
class InterruptsDeferred {
 public:
  InterruptsDeferred();
  ~InterruptsDeferred();
  InterruptsDeferred(const InterruptsDeferred&) = delete;
  InterruptsDeferred& operator=(const InterruptsDeferred&) = delete;
};

}  // namespace kiln
