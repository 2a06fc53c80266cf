#include "cli_unknown.h"

#include <algorithm>

namespace kiln::launcher::cli {
namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> names_of(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) out.push_back(sub->get_name());
  return out;
}

// The subcommand of `app` called `word` by its name or an alias.
const CLI::App* subcommand_named(const CLI::App& app, const std::string& word) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->check_name(word)) return sub;
  return nullptr;
}

// TAO 5 networks a TAO user may try that kiln has under another name, or not.
std::optional<std::string> tao_network_hint(const std::string& word) {
  if (word == "classification_tf2")
    return std::string("kiln's classification reads TAO's classification_tf1 spec (model_config, train_config, ") +
           "eval_config), not classification_tf2's: use 'classification' (or 'classification_tf1')";
  return std::nullopt;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::optional<std::string> closest_name(const std::string& word, const std::vector<std::string>& names) {
  std::optional<std::string> best;
  size_t best_distance = 3;
  for (const auto& n : names) {
    const size_t d = edit_distance(word, n);
    if (d < best_distance && 2 * d < word.size()) best = n, best_distance = d;
  }
  return best;
}

std::optional<std::string> unknown_subcommand(const CLI::App& app, const std::vector<std::string>& args) {
  const CLI::App* at = &app;
  for (const std::string& word : args) {
    const std::vector<std::string> names = names_of(*at);
    if (names.empty() || word.empty() || word[0] == '-') return std::nullopt;
    if (const CLI::App* sub = subcommand_named(*at, word)) {
      at = sub;
      continue;
    }
    const bool top = at == &app;
    if (const auto hint = top ? tao_network_hint(word) : std::nullopt)
      return "unknown network '" + word + "': " + *hint;
    std::string message = top ? "unknown network or tool '" + word + "'"
                              : "unknown subtask '" + word + "' of '" + at->get_name() + "'";
    if (const auto near = closest_name(word, names)) return message + " (did you mean '" + *near + "'?)";
    return message + " (one of: " + joined(names) + ")";
  }
  return std::nullopt;
}

}  // namespace kiln::launcher::cli
