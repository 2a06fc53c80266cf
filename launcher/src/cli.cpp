// run_cli(): builds the CLI11 app from the command table (cli_commands.h), parses, runs the chosen subcommand's
// action, and turns its outcome into the exit code and the `Execution status` line — here and nowhere else.
#include "kiln/launcher/cli.h"

#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>

#include "cli_commands.h"
#include "cli_options.h"
#include "cli_unknown.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::launcher {
namespace {

constexpr const char* kAbout =
    "kiln: train, evaluate and ship vision models from one binary, on one CPU or many ranks.";

// CLI11's vector form takes the arguments last to first; TAO's -pth, -nf, … (which CLI11 would read as bundled short
// flags) become their long names.
std::vector<std::string> cli11_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  out.reserve(args.size());
  for (auto it = args.rbegin(); it != args.rend(); ++it) out.push_back(cli::tao_short_option(*it));
  return out;
}

// Returns the exit code when the parse alone answers the command line (--help, --version). A parse error is
// printed CLI11's way and thrown as a UsageError.
std::optional<int> parse_command_line(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> reversed = cli11_args(args);
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (auto unknown = cli::unknown_subcommand(app, args)) throw UsageError(*unknown + "; see kiln --help");
    app.exit(e);
    throw UsageError("bad command line (see --help)");
  }
  return std::nullopt;
}

int run_chosen(const std::vector<cli::BoundCommand>& commands, const std::vector<std::string>& args,
               Runtime& runtime) {
  const cli::BoundCommand* command = cli::chosen(commands);
  if (command == nullptr) throw Error("the command line chose no subcommand (see --help)");
  return command->action(cli::Invocation{runtime, args, *command->cmd});
}

// TAO's options on every subcommand but `info` (whose -v is its own): --log_file, -v, -q, and -k on the networks'
// subtasks, where TAO has it.
void add_common_flags(const std::vector<cli::BoundCommand>& commands, cli::CommonFlags& flags) {
  for (const auto& command : commands) {
    if (command.cmd->get_name() == "info") continue;
    const CLI::App* group = command.cmd->get_parent();
    const bool network = group != nullptr && (group->get_name() == "classification" ||
                                              group->get_name() == "detectnet_v2");
    cli::add_common_flags(*command.cmd, flags, network);
  }
}

// TAO 5 writes `tao model <network> <subtask>`: the word `model` in front is accepted and dropped.
std::vector<std::string> without_tao_model_word(const std::vector<std::string>& args) {
  if (args.size() > 1 && args.front() == "model") return {args.begin() + 1, args.end()};
  return args;
}

// One `Execution status` line per job: a single process's, or the launcher's for the ranks it supervises, or rank
// 0's under someone else's mpirun/srun.
bool reports_status(Runtime& runtime) {
  try {
    return !runtime.supervised_rank() && runtime.discover_rank().rank == 0;
  } catch (const std::exception&) {
    return true;  // a rank environment that cannot be read: the error said so, and this process reports it
  }
}

}  // namespace

int run_cli(const std::vector<std::string>& typed_args, Runtime& runtime) {
  const std::vector<std::string> args = without_tao_model_word(typed_args);
  CLI::App app{kAbout, "kiln"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);
  app.footer("TAO's forms work too: `kiln model classification_tf1 train …` is `kiln classification train …`.");
  int code = 0;
  cli::CommonFlags flags;
  const log::Level initial_level = log::level();  // -v/-q hold for this command line only
  try {
    const auto commands = cli::add_to_app(cli::kiln_commands(), app);
    add_common_flags(commands, flags);
    if (const auto answered = parse_command_line(app, args)) return *answered;
    cli::apply_common_flags(flags);
    runtime.install_interrupt_handlers();
    code = run_chosen(commands, args, runtime);
  } catch (const Error& e) {
    log::error(e.what());
    code = static_cast<int>(e.code());
  } catch (const c10::Error& e) {
    log::error(std::string("LibTorch: ") + e.what_without_backtrace());
    code = static_cast<int>(ExitCode::kFailure);
  } catch (const std::exception& e) {
    log::error(e.what());
    code = static_cast<int>(ExitCode::kFailure);
  }
  if (reports_status(runtime)) {
    const std::string status = std::string("Execution status: ") + (code == 0 ? "PASS" : "FAIL");
    std::cout << status << std::endl;
    log::also_to_file(status);
  }
  log::set_file("");
  log::set_level(initial_level);
  return code;
}

int run_cli(int argc, char** argv) {
  const auto runtime = kiln_runtime();
  return run_cli(std::vector<std::string>(argv + 1, argv + argc), *runtime);
}

}  // namespace kiln::launcher
