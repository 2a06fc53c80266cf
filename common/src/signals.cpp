#include "kiln/common/signals.h"

#include <atomic>
#include <csignal>

#include "kiln/common/error.h"

namespace kiln {
namespace {
std::atomic<int> g_signal{0};
extern "C" void on_signal(int signo) { g_signal.store(signo); }
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int pending_signal() { return g_signal.load(); }

void throw_if_interrupted() {
  if (int s = g_signal.load()) throw Interrupted(s);
}

void raise_interrupt_for_test(int signo) { g_signal.store(signo); }

}  // namespace kiln
