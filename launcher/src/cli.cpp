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

}  // namespace

int run_cli(const std::vector<std::string>& args, Runtime& runtime) {
  CLI::App app{kAbout, "kiln"};
  app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
  app.require_subcommand(1);
  int code = 0;
  try {
    const auto commands = cli::add_to_app(cli::kiln_commands(), app);
    if (const auto answered = parse_command_line(app, args)) return *answered;
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
  std::cout << "Execution status: " << (code == 0 ? "PASS" : "FAIL") << std::endl;
  return code;
}

int run_cli(int argc, char** argv) {
  const auto runtime = kiln_runtime();
  return run_cli(std::vector<std::string>(argv + 1, argv + argc), *runtime);
}

}  // namespace kiln::launcher
