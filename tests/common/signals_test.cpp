// The interrupt flag and its deferral (common/include/kiln/common/signals.h).
#include "kiln/common/signals.h"

#include <gtest/gtest.h>

#include <csignal>

#include "kiln/common/error.h"

namespace {

struct ClearFlag {
  ~ClearFlag() { kiln::raise_interrupt_for_test(0); }
};

TEST(Signals, APendingSignalThrowsInterruptedWithItsExitCode) {
  ClearFlag clear;
  EXPECT_NO_THROW(kiln::throw_if_interrupted());
  kiln::request_stop(SIGUSR1);
  kiln::request_stop(SIGINT);  // the first request wins
  try {
    kiln::throw_if_interrupted();
    FAIL() << "no exception";
  } catch (const kiln::Interrupted& e) {
    EXPECT_EQ(static_cast<int>(e.code()), 128 + SIGUSR1);
  }
}

TEST(Signals, WhileDeferredTheSignalStaysPendingAndThrowsAfterwards) {
  ClearFlag clear;
  {
    kiln::InterruptsDeferred outer;
    kiln::request_stop(SIGTERM);
    EXPECT_NO_THROW(kiln::throw_if_interrupted());
    {
      kiln::InterruptsDeferred inner;
      EXPECT_NO_THROW(kiln::throw_if_interrupted());
    }
    EXPECT_NO_THROW(kiln::throw_if_interrupted());  // still inside `outer`
    EXPECT_EQ(kiln::pending_signal(), SIGTERM);
  }
  EXPECT_THROW(kiln::throw_if_interrupted(), kiln::Interrupted);
}

}  // namespace
