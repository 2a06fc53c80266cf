// SIGINT/SIGTERM become a flag that long-running loops poll (the handler itself only stores the signal number), so
// work stops at a step boundary, status.json records the interruption, and main() exits 130/143.
#pragma once

namespace kiln {

void install_interrupt_handlers();
int pending_signal();        // 0 when none
void throw_if_interrupted(); // throws kiln::Interrupted
void raise_interrupt_for_test(int signo);

}  // namespace kiln
