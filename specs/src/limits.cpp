#include "limits.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

#include "tree.h"

namespace kiln::specs::detail {
namespace {

struct LimitExceeded {
  YAML::Mark mark;
  std::string message;
};

// Counts nodes and depth as if every alias were replaced by a copy of its anchor's node: each anchored node
// remembers its expanded size and height, and an alias adds them, so nothing is ever copied.
class CostCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override { anchors_.clear(); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string&) override {
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const Cost cost = anchor < anchors_.size() ? anchors_[anchor] : Cost{1, 1};
    // yaml-cpp would build a cyclic graph, which no copy can expand.
    if (cost.nodes == 0) throw LimitExceeded{mark, "an alias inside the node it names (a cycle)"};
    child(mark, cost, "aliases expand to more than ");
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Cost {
    size_t nodes;  // 0 while the anchored node is still open
    int height;    // 1 for a scalar
  };
  struct Open {
    YAML::anchor_t anchor;
    size_t nodes_before;
    int height;  // of the tallest child so far
  };

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    child(mark, Cost{1, 1}, "more than ");
    remember(anchor, Cost{1, 1});
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    child(mark, Cost{1, 1}, "more than ");
    open_.push_back(Open{anchor, nodes_ - 1, 0});
    remember(anchor, Cost{0, 0});  // open: an alias to it now would be a cycle
  }
  void close() {
    const Open done = open_.back();
    open_.pop_back();
    const Cost cost{nodes_ - done.nodes_before, done.height + 1};
    remember(done.anchor, cost);
    if (!open_.empty()) open_.back().height = std::max(open_.back().height, cost.height);
  }
  // A child of the innermost open collection (or the root): a leaf, an alias, or the opening of a collection.
  void child(const YAML::Mark& mark, const Cost& cost, const char* what) {
    nodes_ += cost.nodes;
    if (nodes_ > SpecLimits::kMaxNodes) {
      throw LimitExceeded{mark, what + std::to_string(SpecLimits::kMaxNodes) + " YAML nodes (the limit)"};
    }
    if (open_.size() + static_cast<size_t>(cost.height) > static_cast<size_t>(SpecLimits::kMaxDepth)) {
      throw LimitExceeded{mark, "maps and lists are nested deeper than " + std::to_string(SpecLimits::kMaxDepth) +
                                    " levels (the limit)"};
    }
    if (!open_.empty()) open_.back().height = std::max(open_.back().height, cost.height);
  }
  void remember(YAML::anchor_t anchor, const Cost& cost) {
    if (anchor == YAML::NullAnchor) return;
    if (anchors_.size() <= anchor) anchors_.resize(anchor + 1, Cost{1, 1});
    anchors_[anchor] = cost;
  }
  size_t nodes_ = 0;
  std::vector<Open> open_;
  std::vector<Cost> anchors_;  // by anchor id (yaml-cpp numbers them from 1 in each document)
};

}  // namespace

bool within_limits(const std::string& text, const std::string& file, std::vector<SpecIssue>& issues) {
  std::istringstream in(text);
  CostCounter counter;
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const LimitExceeded& e) {
    const bool located = file != kCommandLine && e.mark.line >= 0;
    issues.push_back({Location{file, located ? e.mark.line + 1 : 0, located ? e.mark.column + 1 : 0}, "", e.message});
    return false;
  } catch (const YAML::Exception&) {
    // A syntax error: the parser that builds the tree reports it with its location.
  }
  return true;
}

SpecIssue too_large(const std::string& file, const std::string& what) {
  return SpecIssue{Location{file, 0, 0}, "",
                   what + " is larger than " + std::to_string(SpecLimits::kMaxBytes / 1024) + " KiB (the limit)"};
}

}  // namespace kiln::specs::detail
