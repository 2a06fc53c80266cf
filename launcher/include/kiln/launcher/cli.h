// The kiln command line: `kiln <network> <subtask> [options] [key.path=value ...]` (TAO's grammar), `kiln info`.
#pragma once

namespace kiln::launcher {

// Parses argv, runs the subtask, prints `Execution status: PASS|FAIL`, and returns the process exit code
// (ExitCode, docs/cli.md). Never throws.
int run_cli(int argc, char** argv);

}  // namespace kiln::launcher
