// The knob table (env_knobs.h) and the accessors that read it (env.h).
#include "kiln/common/env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "kiln/common/error.h"
#include "support/generated_docs.h"

namespace kiln {
namespace {

// Sets a variable for one test and restores the previous state after it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() { old_.empty() ? ::unsetenv(name_) : ::setenv(name_, old_.c_str(), 1); }

 private:
  const char* name_;
  std::string old_;
};

TEST(EnvKnobs, NamesAreUniqueAndKilnPrefixedAndMeaningful) {
  std::set<std::string> names;
  for (const EnvKnob* k : knob::kAll) {
    EXPECT_TRUE(names.insert(k->name).second) << k->name << " is declared twice";
    EXPECT_EQ(std::string(k->name).rfind("KILN_", 0), 0u) << k->name;
    EXPECT_GT(std::string(k->meaning).size(), 10u) << k->name;
    EXPECT_GT(std::string(k->reader).size(), 0u) << k->name;
    EXPECT_EQ(find_knob(k->name), k);
  }
  EXPECT_EQ(find_knob("KILN_"), nullptr);
}

TEST(EnvKnobs, KnobsReadAsIntegersHaveIntegerDefaults) {
  for (const EnvKnob* k : {&knob::kMasterPort, &knob::kStoreMaxFrameBytes, &knob::kStoreConnectTimeoutS,
                           &knob::kHeartbeatPeriodMs, &knob::kHeartbeatTimeoutMs, &knob::kBenchIters})
    EXPECT_NO_THROW(env_long(*k)) << k->name;  // unless the environment running the test sets one badly
}

TEST(Env, AKnobFallsBackToItsDeclaredDefault) {
  ScopedEnv unset(knob::kProgress.name, "");
  EXPECT_EQ(env_string(knob::kProgress), "auto");
  ScopedEnv set(knob::kProgress.name, "plain");
  EXPECT_EQ(env_string(knob::kProgress), "plain");
}

TEST(Env, IntegerKnobsAreChecked) {
  ScopedEnv bad(knob::kHeartbeatPeriodMs.name, "12ms");
  EXPECT_THROW(env_long(knob::kHeartbeatPeriodMs), UsageError);
  ScopedEnv good(knob::kHeartbeatPeriodMs.name, "250");
  EXPECT_EQ(env_long(knob::kHeartbeatPeriodMs), 250);
  EXPECT_EQ(env_long(knob::kHeartbeatPeriodMs.name, 7), 250);
}

TEST(Env, UndeclaredKilnNamesAreRefusedOthersReadByName) {
  const std::string undeclared = std::string("KILN") + "_NOT_A_KNOB";  // assembled: no undeclared literal here
  EXPECT_THROW(env_string(undeclared.c_str()), Error);
  EXPECT_THROW(env_long(undeclared.c_str(), 0), Error);
  EXPECT_EQ(env_string("PATH_THAT_IS_NOT_SET_ANYWHERE_42", "fallback"), "fallback");
}

TEST(Env, KnobsInEffectMaskTheJobToken) {
  ScopedEnv device(knob::kDevice.name, "cpu");
  ScopedEnv token(knob::kJobToken.name, "0123456789abcdef0123456789abcdef");
  bool saw_device = false, saw_token = false;
  for (const auto& [name, value] : knobs_in_effect()) {
    if (name == knob::kDevice.name) saw_device = value == "cpu";
    if (name == knob::kJobToken.name) saw_token = value == "<hidden, 32 characters>";
    EXPECT_EQ(value.find("0123456789abcdef"), std::string::npos) << name;
  }
  EXPECT_TRUE(saw_device);
  EXPECT_TRUE(saw_token);
}

// docs/cli.md lists every knob; KILN_UPDATE_DOCS=1 rewrites its table from env_knobs.h.
TEST(EnvDocs, CliReferenceListsEveryKnob) {
  test_support::check_generated_region("docs/cli.md", "environment", knobs_markdown());
}

}  // namespace
}  // namespace kiln
