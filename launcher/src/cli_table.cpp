#include "cli_table.h"

#include <stdexcept>
#include <utility>

namespace kiln::launcher::cli {
namespace {

std::string path_text(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& name : path) out += (out.empty() ? "" : " ") + name;
  return out;
}

CLI::App* find_subcommand(CLI::App& parent, const std::string& name) {
  const auto found = parent.get_subcommands([&](CLI::App* sub) { return sub->get_name() == name; });
  return found.empty() ? nullptr : found.front();
}

// The app that `entry` goes under: `app` itself for a top-level entry, else its group.
CLI::App& parent_of(CLI::App& app, const CommandEntry& entry) {
  CLI::App* parent = &app;
  for (size_t i = 0; i + 1 < entry.path.size(); ++i) {
    parent = find_subcommand(*parent, entry.path[i]);
    if (parent == nullptr)
      throw std::logic_error("command table: 'kiln " + path_text(entry.path) + "' comes before its group '" +
                             entry.path[i] + "'");
  }
  return *parent;
}

}  // namespace

void CommandTable::group(const std::string& name, const std::string& help, std::vector<std::string> aliases) {
  entries_.push_back({{name}, help, nullptr, std::move(aliases)});
}

void CommandTable::command(std::vector<std::string> path, const std::string& help, Binder bind) {
  if (path.empty() || !bind) throw std::logic_error("command table: a subcommand needs a path and a binder");
  entries_.push_back({std::move(path), help, std::move(bind), {}});
}

std::vector<BoundCommand> add_to_app(const CommandTable& table, CLI::App& app) {
  std::vector<BoundCommand> out;
  for (const auto& entry : table.entries()) {
    CLI::App* cmd = parent_of(app, entry).add_subcommand(entry.path.back(), entry.help);
    for (const auto& alias : entry.aliases) cmd->alias(alias);
    if (entry.bind)
      out.push_back({cmd, entry.bind(*cmd)});
    else
      cmd->require_subcommand(1);
  }
  return out;
}

const BoundCommand* chosen(const std::vector<BoundCommand>& commands) {
  for (const auto& command : commands)
    if (command.cmd->parsed()) return &command;
  return nullptr;
}

}  // namespace kiln::launcher::cli
