// Lookups and views of the knob table (env_knobs.h).
#include "kiln/common/env_knobs.h"

#include <cstdlib>

namespace kiln {
namespace {

// A Markdown table cell: '|' would end it.
std::string cell(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

const EnvKnob* find_knob(std::string_view name) {
  for (const EnvKnob* k : knob::kAll)
    if (name == k->name) return k;
  return nullptr;
}

std::vector<std::pair<std::string, std::string>> knobs_in_effect() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const EnvKnob* k : knob::kAll) {
    const char* v = std::getenv(k->name);
    if (!v || !*v) continue;
    const std::string value(v);
    out.emplace_back(k->name, k->secret ? "<hidden, " + std::to_string(value.size()) + " characters>" : value);
  }
  return out;
}

std::string knobs_markdown() {
  std::string md = "| variable | default | read by | meaning |\n|---|---|---|---|\n";
  for (const EnvKnob* k : knob::kAll) {
    const std::string fallback = *k->fallback ? "`" + cell(k->fallback) + "`" : "—";
    md += "| `" + std::string(k->name) + "` | " + fallback + " | " + k->reader + " | " + cell(k->meaning) + " |\n";
  }
  return md;
}

}  // namespace kiln
