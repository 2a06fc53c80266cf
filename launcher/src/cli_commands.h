// Internal to kiln_launcher: kiln's subcommands, one subtask family per file (cli_<family>.cpp). A new subcommand is
// a command() in its family's file; a new family is a file with its add_<family>_commands() and a line in
// kiln_commands().
#pragma once
#include <string>

#include "cli_table.h"

namespace kiln::launcher::cli {

void add_info_commands(CommandTable& table);            // info
void add_classification_commands(CommandTable& table);  // classification train|evaluate|dataset_convert|inference|…
void add_detectnet_v2_commands(CommandTable& table);    // detectnet_v2 train|evaluate|inference|dataset_convert|…
void add_cluster_commands(CommandTable& table);         // cluster check
void add_dataset_commands(CommandTable& table);         // dataset synth_kitti
void add_spec_commands(CommandTable& table);            // spec import

// `<network> export` and `<network> prune`, which both networks have (cli_model_tools.cpp).
void add_export_command(CommandTable& table, const std::string& network);
void add_prune_command(CommandTable& table, const std::string& network);

// Every family, in the order --help lists them.
CommandTable kiln_commands();

}  // namespace kiln::launcher::cli
