// The knob table (kiln/common/env_knobs.h) documents the cluster module's defaults; these are the defaults the code
// uses, so the table cannot drift from them.
#include <gtest/gtest.h>

#include <string>

#include "kiln/cluster/control_plane.h"
#include "kiln/cluster/store.h"

namespace kiln::cluster {
namespace {

TEST(EnvDefaults, KnobTableMatchesTheControlPlaneDefaults) {
  EXPECT_EQ(knob::kHeartbeatPeriodMs.fallback, std::to_string(kDefaultHeartbeatPeriod.count()));
  EXPECT_EQ(knob::kHeartbeatTimeoutMs.fallback, std::to_string(kDefaultDeadAfter.count()));
  EXPECT_EQ(knob::kStoreMaxFrameBytes.fallback, std::to_string(kDefaultMaxFrameBytes));
  EXPECT_EQ(knob::kStoreConnectTimeoutS.fallback, std::to_string(kDefaultConnectTimeout.count()));
  EXPECT_EQ(knob::kStoreBindAddr.fallback, StoreServerOptions().address);
}

}  // namespace
}  // namespace kiln::cluster
