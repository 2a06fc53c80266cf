// Reading the environment. kiln's own variables are the knobs declared in env_knobs.h (name, default, meaning):
// read them by their constant, `env_string(knob::kDevice)`, which falls back to the declared default. Other
// variables (Open MPI's, Slurm's, ...) are read by name; a KILN_ name that is not declared is refused there too, so
// no knob can be read without its entry in the table.
#pragma once
#include <string>

#include "kiln/common/env_knobs.h"

namespace kiln {

// The knob's variable when set and non-empty, else its declared default.
std::string env_string(const EnvKnob& knob);
// The same as an integer. Throws kiln::UsageError naming the variable when it is not an integer, and kiln::Error
// when the knob declares no default and the variable is unset.
long env_long(const EnvKnob& knob);

// Any variable by name: its value when set and non-empty, else `fallback`. Throws kiln::Error for a name starting
// with KILN_ that env_knobs.h does not declare.
std::string env_string(const char* name, const std::string& fallback = "");
long env_long(const char* name, long fallback);  // throws kiln::UsageError if set but not an integer

std::string host_name();  // gethostname(), "localhost" if that fails

}  // namespace kiln
