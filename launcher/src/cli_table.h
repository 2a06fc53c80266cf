// Internal to kiln_launcher: the command table run_cli() builds its CLI11 app from. Each subtask family
// (cli_<family>.cpp) adds its groups and subcommands; a subcommand binds its options to state it owns and returns the
// action that runs it, so run_cli() dispatches by looking up the subcommand the parse chose.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "kiln/launcher/cli_runtime.h"

namespace kiln::launcher::cli {

// What an action gets once the command line is parsed.
struct Invocation {
  Runtime& runtime;
  const std::vector<std::string>& args;  // the arguments after the program name, as typed
  const CLI::App& cmd;                   // the chosen subcommand (its leftover arguments are spec overrides)
};

// Runs the chosen subcommand; returns the exit code of a job it launched, else 0. Failures throw kiln::Error.
using Action = std::function<int(const Invocation&)>;

// Adds a subcommand's options to `cmd`, bound to options the returned action owns.
using Binder = std::function<Action(CLI::App& cmd)>;

struct CommandEntry {
  std::vector<std::string> path;  // {"classification", "train"}; a group's is its name alone
  std::string help;
  Binder bind;                    // empty for a group
  std::vector<std::string> aliases;  // other names the command line may use for it (TAO 5's network names)
};

class CommandTable {
 public:
  // `kiln <name> <subtask>`: a network or a tool family; the command line must name one of its subcommands, and
  // may call the group by one of its `aliases`.
  void group(const std::string& name, const std::string& help, std::vector<std::string> aliases = {});
  // A subcommand under the groups of `path` (added before it); a one-element path is a top-level subcommand.
  void command(std::vector<std::string> path, const std::string& help, Binder bind);
  const std::vector<CommandEntry>& entries() const { return entries_; }

 private:
  std::vector<CommandEntry> entries_;
};

// A subcommand added to an app, with its action.
struct BoundCommand {
  CLI::App* cmd = nullptr;
  Action action;
};

// Adds the table's groups and subcommands to `app` in the table's order (which is --help's). Throws
// std::logic_error for a subcommand whose group is not in the table before it.
std::vector<BoundCommand> add_to_app(const CommandTable& table, CLI::App& app);

// The subcommand the parsed command line chose; nullptr when none was.
const BoundCommand* chosen(const std::vector<BoundCommand>& commands);

}  // namespace kiln::launcher::cli
