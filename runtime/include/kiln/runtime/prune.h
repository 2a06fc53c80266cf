// `prune` (TAO's semantics, docs/prune.md): rank filters by the L2 norm of their weights, keep those above a
// threshold, and rebuild a smaller network that carries its new layer widths. Everything the pruner knows about a
// network comes from Network::graph(): which convolutions produce which channels, which layers are tied by residual
// adds (they must keep the same channels), which layers merely follow their input (batch norm, depthwise convs), and
// how a flatten maps channels to the next linear layer's inputs.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/networks/network.h"
#include "kiln/runtime/tasks.h"

namespace kiln::runtime {

struct PruneOptions {
  double threshold = 0.1;              // -pth: keep filters whose normalised norm is above this, in [0, 1]
  int64_t min_num_filters = 16;        // -nf: keep at least this many per layer (or all it has)
  int64_t granularity = 8;             // -pg: kept counts are rounded up to a multiple of this
  std::string normalizer = "max";      // -n: max (norm / largest norm of the layer) | L2 (norm / L2 of all norms)
  std::string equalization = "union";  // -eq: union | intersection | arithmetic_mean | geometric_mean
  std::vector<std::string> excluded;   // -el: layer (graph node or module) names or channel keys kept whole

  void validate() const;  // throws kiln::UsageError naming the flag
};

// One set of channels that prunes as a unit: a conv/linear layer's outputs, or several layers tied by adds.
struct PruneGroup {
  std::vector<std::string> layers;  // the conv/linear layers producing these channels
  int64_t before = 0, after = 0;
  std::string status;  // "pruned" (narrower), "kept" (scored, all kept), "excluded (-el)", "fixed: network output", …
};

struct PruneResult {
  std::shared_ptr<networks::Network> net;  // the pruned network, weights copied
  std::vector<PruneGroup> groups;
  int64_t params_before = 0, params_after = 0;
  double ratio() const { return params_before ? static_cast<double>(params_after) / params_before : 1.0; }
  std::string table() const;  // per group: layers, channels before → after, status
};

// The channel groups of a graph: every node's output channels belong to one group; a conv/linear layer starts a group,
// batch norm, activations, pools, flatten and depthwise convs stay in their input's, and an add merges its inputs'.
struct ChannelGroup {
  std::vector<int> producers;  // conv/linear nodes whose output channels these are (none: the network input)
  std::vector<int> members;    // every node whose output is in this group (producers included)
  int64_t channels = 0;
  std::string fixed;           // why it cannot be pruned ("" = prunable): network input/output, a fixed-width layer
};
struct ChannelGroups {
  std::vector<ChannelGroup> groups;  // the network input's first, then in order of their first producer
  std::vector<int> of_node;          // node index → group index
  int input_group(const networks::Node& n) const;  // group of n's first input
};
ChannelGroups channel_groups(const networks::Graph& g);

// Indices of the channels to keep, ascending: score > threshold, at least min(min_num_filters, n) (the best scores),
// then more of the best until the count is a multiple of `granularity` (or all n).
std::vector<int64_t> select_channels(const std::vector<double>& scores, const PruneOptions& opt);

// Prunes `net` (which is not modified). Throws kiln::UsageError for an -el name that matches no layer.
PruneResult prune_network(const networks::Network& net, const PruneOptions& opt);

struct PruneTaskOptions {
  std::string model_path;   // -m
  std::string output_path;  // -o: the pruned model file
  std::string results_dir;  // -r: status.json (default: the output's directory)
  PruneOptions prune;
};
// The CLI subtask: load, prune, print the table and "Pruning ratio (pruned/original): x.xxx", write the pruned model
// atomically (with its architecture, class names and spec) and a status.json event with the KPIs.
void run_prune(const PruneTaskOptions& opts);

}  // namespace kiln::runtime
