// A command line that names a network, tool or subtask kiln does not have: say which word, where, and the closest
// name ("unknown subtask 'trian' of 'classification' (did you mean 'train'?)") instead of CLI11's "A subcommand is
// required".
#pragma once
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kiln::launcher::cli {

// The message for the first word of `args` (before any option) that is not a subcommand where one is expected;
// nothing when every such word is known.
std::optional<std::string> unknown_subcommand(const CLI::App& app, const std::vector<std::string>& args);

// The name within edit distance 2 (and under half the word's length) of `word` closest to it, if any.
std::optional<std::string> closest_name(const std::string& word, const std::vector<std::string>& names);

}  // namespace kiln::launcher::cli
