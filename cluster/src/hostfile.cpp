// Open MPI / DeepSpeed hostfiles, and DeepSpeed's --include/--exclude host and slot filters.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cluster_config_rules.h"
#include "kiln/cluster/cluster_config.h"

namespace kiln::cluster {
namespace {

using specs::Location;
using specs::SpecIssue;

std::optional<int> parse_count(const std::string& text) {
  if (text.empty() || text.size() > 6 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoi(text);
}

struct Token {
  std::string text;
  int column = 0;  // 1-based
};

// Whitespace-separated words of a line, without its `#` comment.
std::vector<Token> tokens_of(const std::string& line) {
  std::vector<Token> tokens;
  const std::string body = line.substr(0, line.find('#'));
  for (size_t i = 0; i < body.size();) {
    if (std::isspace(static_cast<unsigned char>(body[i]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < body.size() && !std::isspace(static_cast<unsigned char>(body[end]))) ++end;
    tokens.push_back({body.substr(i, end - i), static_cast<int>(i) + 1});
    i = end;
  }
  return tokens;
}

class HostfileReader {
 public:
  HostfileReader(std::string file, std::vector<std::string>* notes) : file_(std::move(file)), notes_(notes) {}

  void line(const std::string& text, int number) {
    const std::vector<Token> tokens = tokens_of(text);
    if (tokens.empty()) return;
    const Token& host = tokens.front();
    bool ok = true;
    if (std::string p = detail::host_problem(host.text); !p.empty()) ok = problem(number, host.column, p);
    std::optional<int> slots;
    for (size_t i = 1; i < tokens.size(); ++i) {
      const Token& t = tokens[i];
      const size_t eq = t.text.find('=');
      const std::string key = t.text.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : t.text.substr(eq + 1);
      if (key == "slots" && eq != std::string::npos) {
        slots = parse_count(value);
        if (!slots || *slots < 1)
          ok = problem(number, t.column, "slots must be a whole number >= 1, got '" + value + "'");
      } else if ((key == "max_slots" || key == "max-slots") && eq != std::string::npos) {
        note(number, key + " is ignored (kiln starts exactly slots ranks on each host)");
      } else {
        ok = problem(number, t.column, "unknown field '" + t.text + "' (expected slots=N or max_slots=N)");
      }
    }
    auto seen = first_line_.find(host.text);
    if (seen != first_line_.end()) {
      ok = problem(number, host.column,
                   "host '" + host.text + "' is listed twice (first on line " + std::to_string(seen->second) +
                       "); give it once with all its slots");
    }
    if (!ok) return;
    if (!slots) note(number, "no slots= for " + host.text + ", using 1");
    first_line_[host.text] = number;
    config_.nodes.push_back(Node{host.text, slots.value_or(1), {}});
  }

  ClusterConfig finish() {
    if (issues_.empty() && config_.nodes.empty()) issues_.push_back({Location{file_, 0, 0}, "", "no hosts listed"});
    if (!issues_.empty()) throw specs::SpecError(file_, std::move(issues_));
    config_.source = file_;
    config_.name = std::filesystem::path(file_).stem().string();
    config_.launcher = Launcher::kMpirun;
    return std::move(config_);
  }

 private:
  bool problem(int line, int column, std::string message) {
    issues_.push_back({Location{file_, line, column}, "", std::move(message)});
    return false;
  }

  void note(int line, const std::string& message) {
    if (notes_) notes_->push_back(file_ + ":" + std::to_string(line) + ": " + message);
  }

  std::string file_;
  std::vector<std::string>* notes_;
  ClusterConfig config_;
  std::vector<SpecIssue> issues_;
  std::map<std::string, int> first_line_;
};

// One NODE_SPEC of a filter: a host and, optionally, the slot (GPU) ids chosen on it.
struct HostSlots {
  std::string host;
  std::vector<int> slots;  // empty: the whole host
};

[[noreturn]] void bad_filter(const std::string& flag, const std::string& text, const std::string& why) {
  throw UsageError(flag + " '" + text + "': " + why);
}

// Keeps empty pieces, so that "a,,b" is reported rather than read as "a,b".
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == sep) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// "a@b:0,2" or "a,b:0,2": '@' or ',' between hosts; a number after "host:" continues that host's slot list.
std::vector<HostSlots> parse_filter(const std::string& flag, const std::string& text) {
  std::vector<HostSlots> specs;
  for (const std::string& part : split(text, '@')) {
    bool in_slots = false;
    for (const std::string& item : split(part, ',')) {
      if (item.empty()) bad_filter(flag, text, "an empty host name (hosts are separated by '@' or ',')");
      if (auto slot = parse_count(item); slot && in_slots) {
        specs.back().slots.push_back(*slot);
        continue;
      }
      const size_t colon = item.find(':');
      specs.push_back(HostSlots{item.substr(0, colon), {}});
      if (std::string p = detail::host_problem(specs.back().host); !p.empty()) bad_filter(flag, text, p);
      in_slots = colon != std::string::npos;
      if (!in_slots) continue;
      auto slot = parse_count(item.substr(colon + 1));
      if (!slot) bad_filter(flag, text, "'" + item + "': expected host:slot[,slot...] with slot numbers");
      specs.back().slots.push_back(*slot);
    }
  }
  return specs;
}

// The GPU ids a host's slots stand for: its gpus list, or 0..slots-1 (DeepSpeed's reading of `slots=N`).
std::vector<int> slot_ids(const Node& node) {
  if (!node.gpus.empty()) return node.gpus;
  std::vector<int> ids(static_cast<size_t>(node.slots));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>(i);
  return ids;
}

// Keeps (include) or drops (exclude) the chosen slots of a node; the kept ones become its gpus.
std::optional<Node> select_slots(const Node& node, const std::vector<int>& chosen, bool include,
                                 const std::string& flag, const std::string& text) {
  const std::vector<int> ids = slot_ids(node);
  for (int id : chosen) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      std::string have;
      for (int i : ids) have += (have.empty() ? "" : ",") + std::to_string(i);
      bad_filter(flag, text,
                 "host '" + node.host + "' has no slot " + std::to_string(id) + " (its slots: " + have + ")");
    }
  }
  Node out = node;
  out.gpus.clear();
  for (int id : ids) {
    const bool is_chosen = std::find(chosen.begin(), chosen.end(), id) != chosen.end();
    if (is_chosen == include) out.gpus.push_back(id);
  }
  if (out.gpus.empty()) return std::nullopt;
  out.slots = static_cast<int>(out.gpus.size());
  return out;
}

}  // namespace

ClusterConfig parse_hostfile(const std::string& text, const std::string& display_name,
                             std::vector<std::string>* notes) {
  HostfileReader reader(display_name, notes);
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) reader.line(line, ++number);
  return reader.finish();
}

ClusterConfig load_hostfile(const std::string& file, std::vector<std::string>* notes) {
  auto unreadable = [&](const std::string& why) {
    return specs::SpecError(file, {SpecIssue{Location{file, 0, 0}, "", why}});
  };
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) throw unreadable("hostfile not found");
  if (std::filesystem::is_directory(file, ec)) throw unreadable("is a directory, not a hostfile");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw unreadable(std::string("cannot read hostfile: ") + std::strerror(errno));
  return parse_hostfile(text.str(), file, notes);
}

ClusterConfig filter_hosts(const ClusterConfig& config, const std::string& include, const std::string& exclude) {
  if (!include.empty() && !exclude.empty()) {
    throw UsageError("give --include or --exclude, not both (--include '" + include + "', --exclude '" + exclude +
                     "')");
  }
  if (include.empty() && exclude.empty()) return config;
  const bool including = !include.empty();
  const std::string flag = including ? "--include" : "--exclude";
  const std::string& text = including ? include : exclude;
  std::map<std::string, std::vector<int>> chosen;  // host → slots; an empty list means the whole host
  std::map<std::string, bool> whole;
  for (const HostSlots& spec : parse_filter(flag, text)) {
    auto known =
        std::find_if(config.nodes.begin(), config.nodes.end(), [&](const Node& n) { return n.host == spec.host; });
    if (known == config.nodes.end()) {
      bad_filter(flag, text, "unknown host '" + spec.host + "' (the hosts are " + detail::host_list(config) + ")");
    }
    auto& slots = chosen[spec.host];
    slots.insert(slots.end(), spec.slots.begin(), spec.slots.end());
    if (spec.slots.empty()) whole[spec.host] = true;
  }
  ClusterConfig out = config;
  out.nodes.clear();
  for (const Node& node : config.nodes) {
    auto it = chosen.find(node.host);
    const bool named = it != chosen.end();
    if (!named || whole.count(node.host)) {
      if (named == including) out.nodes.push_back(node);
      continue;
    }
    if (auto kept = select_slots(node, it->second, including, flag, text)) out.nodes.push_back(std::move(*kept));
  }
  if (out.nodes.empty()) bad_filter(flag, text, "no host is left (the hosts are " + detail::host_list(config) + ")");
  return out;
}

}  // namespace kiln::cluster
