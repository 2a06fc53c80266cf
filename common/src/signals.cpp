#include "kiln/common/signals.h"

#include <atomic>
#include <csignal>

#include "kiln/common/error.h"

namespace kiln {
namespace {
std::atomic<int> g_signal{0};
std::atomic<int> g_deferred{0};  // live InterruptsDeferred scopes
extern "C" void on_signal(int signo) {
  int none = 0;
  g_signal.compare_exchange_strong(none, signo);
}
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int signo : {SIGINT, SIGTERM, SIGUSR1}) sigaction(signo, &sa, nullptr);
}

int pending_signal() { return g_signal.load(); }

void throw_if_interrupted() {
  if (g_deferred.load() > 0) return;
  if (int s = g_signal.load()) throw Interrupted(s);
}

InterruptsDeferred::InterruptsDeferred() { ++g_deferred; }
InterruptsDeferred::~InterruptsDeferred() { --g_deferred; }

void request_stop(int signo) { on_signal(signo); }

void raise_interrupt_for_test(int signo) { g_signal.store(signo); }

std::string signal_name(int signo) {
  switch (signo) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    default: return "signal " + std::to_string(signo);
  }
}

}  // namespace kiln
