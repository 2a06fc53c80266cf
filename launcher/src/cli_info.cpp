// `kiln info [--verbose]`.
#include <memory>

#include "cli_commands.h"

namespace kiln::launcher::cli {
namespace {

Action bind_info(CLI::App& cmd) {
  auto verbose = std::make_shared<bool>(false);
  cmd.add_flag("-v,--verbose", *verbose, "Also threads and build details");
  return [verbose](const Invocation& in) {
    in.runtime.info(*verbose);
    return 0;
  };
}

}  // namespace

void add_info_commands(CommandTable& table) {
  table.command({"info"}, "Versions of kiln, LibTorch, MPI, CUDA/NCCL; devices; networks and subtasks", bind_info);
}

}  // namespace kiln::launcher::cli
