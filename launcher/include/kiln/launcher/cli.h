// The kiln command line: `kiln <network> <subtask> [options] [key.path=value ...]` (TAO's grammar), `kiln info`.
// The subcommands come from a command table, one file per subtask family (launcher/src/cli_commands.h); their
// actions reach the runtime through a Runtime (cli_runtime.h), which tests replace.
#pragma once
#include <string>
#include <vector>

#include "kiln/launcher/cli_runtime.h"

namespace kiln::launcher {

// Parses argv, runs the subtask, prints the job's `Execution status: PASS|FAIL` (unless this process is a rank whose
// launcher, or rank 0, reports the job), and returns the process exit code (the codes of docs/cli.md). Never throws.
int run_cli(int argc, char** argv);

// The same with the arguments after the program name and the runtime the actions use.
int run_cli(const std::vector<std::string>& args, Runtime& runtime);

}  // namespace kiln::launcher
