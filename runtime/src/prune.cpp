#include "kiln/runtime/prune.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <iostream>
#include <numeric>
#include <set>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/networks/graph.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/model_file.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"

namespace kiln::runtime {

using networks::Graph;
using networks::Node;
using networks::Op;

void PruneOptions::validate() const {
  if (!(threshold >= 0 && threshold <= 1))
    throw UsageError(log::cat("-pth/--pruning_threshold must be in [0, 1], got ", threshold));
  if (min_num_filters < 1) throw UsageError(log::cat("-nf/--min_num_filters must be at least 1, got ", min_num_filters));
  if (granularity < 1) throw UsageError(log::cat("-pg/--pruning_granularity must be at least 1, got ", granularity));
  if (normalizer != "max" && normalizer != "L2")
    throw UsageError("-n/--normalizer must be max or L2, got '" + normalizer + "'");
  static const std::set<std::string> kEq{"union", "intersection", "arithmetic_mean", "geometric_mean"};
  if (!kEq.count(equalization))
    throw UsageError("-eq/--equalization_criterion must be union, intersection, arithmetic_mean or geometric_mean, "
                     "got '" + equalization + "'");
}

std::vector<int64_t> select_channels(const std::vector<double>& scores, const PruneOptions& opt) {
  const auto n = static_cast<int64_t>(scores.size());
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // Best first; ties keep the lower index, so the result does not depend on the sort's whims.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
  });
  int64_t keep = 0;
  while (keep < n && scores[static_cast<size_t>(order[static_cast<size_t>(keep)])] > opt.threshold) ++keep;
  keep = std::max(keep, std::min(opt.min_num_filters, n));
  if (keep % opt.granularity) keep = std::min(n, (keep / opt.granularity + 1) * opt.granularity);
  std::vector<int64_t> kept(order.begin(), order.begin() + keep);
  std::sort(kept.begin(), kept.end());
  return kept;
}

namespace {

// ---- channel groups ----------------------------------------------------------------------------------------------

struct UnionFind {
  std::vector<int> parent;
  int make() {
    parent.push_back(static_cast<int>(parent.size()));
    return parent.back();
  }
  int find(int x) {
    while (parent[static_cast<size_t>(x)] != x) x = parent[static_cast<size_t>(x)];
    return x;
  }
  void join(int a, int b) { parent[static_cast<size_t>(find(a))] = find(b); }
};

bool is_depthwise(const Node& n) {
  return n.op == Op::Conv && n.groups > 1 && n.groups == n.in_channels && n.groups == n.out_channels;
}
bool produces_channels(const Node& n) { return (n.op == Op::Conv && n.groups == 1) || n.op == Op::Linear; }

// ---- filter importance -------------------------------------------------------------------------------------------

std::map<std::string, at::Tensor> named_tensors(const torch::nn::Module& m) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m.named_parameters()) out[p.key()] = p.value().detach().cpu();
  for (const auto& b : m.named_buffers()) out[b.key()] = b.value().detach().cpu();
  return out;
}

const at::Tensor& tensor_of(const std::map<std::string, at::Tensor>& t, const std::string& name, const Node& n) {
  auto it = t.find(name);
  if (it == t.end()) throw Error("prune: graph node " + n.name + " uses " + name + ", which the network does not have");
  return it->second;
}

// Normalised L2 norms of a producer's filters (one per output channel).
std::vector<double> filter_scores(const at::Tensor& weight, const std::string& normalizer) {
  const at::Tensor norms = weight.to(at::kDouble).flatten(1).norm(2, {1});
  const double denom = normalizer == "max" ? norms.max().item<double>() : norms.norm().item<double>();
  const at::Tensor scaled = denom > 0 ? norms / denom : norms;
  return std::vector<double>(scaled.data_ptr<double>(), scaled.data_ptr<double>() + scaled.numel());
}

std::vector<double> combine(const std::vector<std::vector<double>>& per_layer, const std::string& eq) {
  std::vector<double> out(per_layer.front().size());
  for (size_t c = 0; c < out.size(); ++c) {
    double mx = 0, mn = INFINITY, sum = 0, log_sum = 0;
    for (const auto& s : per_layer) {
      mx = std::max(mx, s[c]);
      mn = std::min(mn, s[c]);
      sum += s[c];
      log_sum += std::log(std::max(s[c], 1e-300));
    }
    const double k = static_cast<double>(per_layer.size());
    out[c] = eq == "union" ? mx : eq == "intersection" ? mn : eq == "arithmetic_mean" ? sum / k : std::exp(log_sum / k);
  }
  return out;
}

at::Tensor index_tensor(const std::vector<int64_t>& idx) { return at::tensor(idx, at::kLong); }

}  // namespace

int ChannelGroups::input_group(const Node& n) const {
  const int in = n.inputs.at(0);
  return in == networks::kGraphInput ? 0 : of_node.at(static_cast<size_t>(in));
}

ChannelGroups channel_groups(const Graph& g) {
  UnionFind uf;
  std::map<int, std::string> fixed;
  std::vector<int> space_of;
  const int input = uf.make();
  fixed[input] = "fixed: network input";
  const auto space = [&](int node) { return node == networks::kGraphInput ? input : space_of.at(static_cast<size_t>(node)); };
  for (const Node& n : g.nodes) {
    int s;
    if (produces_channels(n)) {
      s = uf.make();
      if (n.channel_key.empty()) fixed[s] = "fixed: " + n.name + " has a fixed width";
    } else if (n.op == Op::Conv && !is_depthwise(n)) {
      // A grouped (not depthwise) conv mixes channels within its groups: neither side may change.
      s = uf.make();
      fixed[s] = fixed[space(n.inputs.at(0))] = "fixed: grouped conv " + n.name;
    } else {
      s = space(n.inputs.at(0));  // batch norm, activations, pools, flatten, depthwise convs: their input's channels
      if (n.op == Op::Add)
        for (int in : n.inputs) uf.join(space(in), s);
    }
    space_of.push_back(s);
  }
  fixed[space(g.output)] = "fixed: network output";

  ChannelGroups out;
  std::map<int, int> index;  // union-find root → group index
  const auto group = [&](int s) {
    const int root = uf.find(s);
    auto [it, fresh] = index.emplace(root, static_cast<int>(out.groups.size()));
    if (fresh) out.groups.emplace_back();
    return it->second;
  };
  group(input);
  out.groups[0].channels = g.in_channels;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const int gi = group(space_of[i]);
    out.of_node.push_back(gi);
    ChannelGroup& cg = out.groups[static_cast<size_t>(gi)];
    cg.members.push_back(static_cast<int>(i));
    if (produces_channels(g.nodes[i])) {
      if (!cg.producers.empty() && cg.channels != g.nodes[i].out_channels)
        throw Error(log::cat("graph: ", g.nodes[i].name, " has ", g.nodes[i].out_channels, " channels but is added to ",
                             g.nodes[static_cast<size_t>(cg.producers.front())].name, "'s ", cg.channels));
      cg.producers.push_back(static_cast<int>(i));
      cg.channels = g.nodes[i].out_channels;
    }
  }
  for (const auto& [s, why] : fixed) {
    std::string& f = out.groups[static_cast<size_t>(group(s))].fixed;
    if (f.empty()) f = why;
  }
  return out;
}

std::string PruneResult::table() const {
  std::ostringstream os;
  size_t width = 6;
  std::vector<std::string> names;
  for (const auto& g : groups) {
    std::string joined;
    for (const auto& l : g.layers) joined += (joined.empty() ? "" : ", ") + l;
    if (joined.size() > 60) joined = joined.substr(0, 57) + "...";
    names.push_back(joined);
    width = std::max(width, joined.size());
  }
  os << std::left << std::setw(static_cast<int>(width)) << "layers" << "  " << std::right << std::setw(7) << "before"
     << "  " << std::setw(6) << "after" << "  status\n";
  for (size_t i = 0; i < groups.size(); ++i)
    os << std::left << std::setw(static_cast<int>(width)) << names[i] << "  " << std::right << std::setw(7)
       << groups[i].before << "  " << std::setw(6) << groups[i].after << "  " << groups[i].status << "\n";
  os << "Parameters: " << params_before << " -> " << params_after;
  return os.str();
}

PruneResult prune_network(const networks::Network& net, const PruneOptions& opt) {
  opt.validate();
  const Graph g = net.graph();
  const ChannelGroups cg = channel_groups(g);
  const auto tensors = named_tensors(net);

  // -el names: a node, a module, or a channel key; each must match something, and excludes its whole group.
  std::set<int> excluded;
  for (const std::string& name : opt.excluded) {
    bool found = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (n.name == name || n.module == name || (!n.channel_key.empty() && n.channel_key == name)) {
        excluded.insert(cg.of_node[i]);
        found = true;
      }
    }
    if (!found) throw UsageError("-el/--excluded_layers: no layer named '" + name + "' in " + net.architecture().summary());
  }

  PruneResult result;
  result.params_before = networks::count_parameters(net);
  std::map<int, at::Tensor> keep;  // group → kept channel indices (absent: all)
  networks::Architecture arch = net.architecture();
  std::map<std::string, int64_t> key_width;
  for (size_t gi = 0; gi < cg.groups.size(); ++gi) {
    const ChannelGroup& group = cg.groups[gi];
    if (group.producers.empty()) continue;  // the network input
    PruneGroup row;
    for (int i : group.producers) row.layers.push_back(g.nodes[static_cast<size_t>(i)].name);
    row.before = row.after = group.channels;
    if (!group.fixed.empty()) {
      row.status = group.fixed;
    } else if (excluded.count(static_cast<int>(gi))) {
      row.status = "excluded (-el)";
    } else {
      std::vector<std::vector<double>> scores;
      for (int i : group.producers) {
        const Node& n = g.nodes[static_cast<size_t>(i)];
        scores.push_back(filter_scores(tensor_of(tensors, n.module + ".weight", n), opt.normalizer));
      }
      const auto kept = select_channels(combine(scores, opt.equalization), opt);
      row.after = static_cast<int64_t>(kept.size());
      row.status = row.after < row.before ? "pruned" : "kept";  // only a narrower layer was pruned
      keep[static_cast<int>(gi)] = index_tensor(kept);
      for (int i : group.producers) {
        const std::string& key = g.nodes[static_cast<size_t>(i)].channel_key;
        if (auto [it, fresh] = key_width.emplace(key, row.after); !fresh && it->second != row.after)
          throw Error("prune: " + net.architecture().arch + "'s graph gives channel key " + key +
                      " to layers of different channel groups");
        arch.channels[key] = row.after;
      }
    }
    result.groups.push_back(std::move(row));
  }

  // The smaller network, and every tensor of the old one cut down to it.
  auto pruned = networks::create(arch);
  std::map<std::string, at::Tensor> cut;
  const auto kept_of = [&](int group) -> const at::Tensor* {
    auto it = keep.find(group);
    return it == keep.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.module.empty()) continue;
    const at::Tensor* out_keep = kept_of(cg.of_node[i]);
    const int in_group = cg.input_group(n);
    const at::Tensor* in_keep = kept_of(in_group);
    const auto cut_out = [&](const at::Tensor& t) { return out_keep ? t.index_select(0, *out_keep) : t; };
    const auto cut_param = [&](const char* suffix) {
      if (auto it = tensors.find(n.module + suffix); it != tensors.end()) cut[n.module + suffix] = cut_out(it->second);
    };
    if (n.op == Op::BatchNorm) {
      for (const char* suffix : {".weight", ".bias", ".running_mean", ".running_var"}) cut_param(suffix);
      continue;
    }
    at::Tensor w = cut_out(tensor_of(tensors, n.module + ".weight", n));
    if (in_keep && !is_depthwise(n)) {
      // After a flatten, each input channel is a run of H*W columns of a linear layer: keep whole runs.
      const int64_t run = n.op == Op::Linear ? n.in_channels / cg.groups[static_cast<size_t>(in_group)].channels : 1;
      std::vector<int64_t> cols;
      const auto* c = in_keep->data_ptr<int64_t>();
      for (int64_t j = 0; j < in_keep->numel(); ++j)
        for (int64_t k = 0; k < run; ++k) cols.push_back(c[j] * run + k);
      w = w.index_select(1, index_tensor(cols));
    }
    cut[n.module + ".weight"] = w;
    cut_param(".bias");
  }
  {
    at::NoGradGuard no_grad;
    const auto copy_into = [&](const std::string& name, at::Tensor dst) {
      const at::Tensor* src = nullptr;
      if (auto it = cut.find(name); it != cut.end()) src = &it->second;
      else if (auto orig = tensors.find(name); orig != tensors.end()) src = &orig->second;  // e.g. num_batches_tracked
      if (!src) throw Error("prune: the pruned network has " + name + ", which the original lacks");
      if (src->sizes() != dst.sizes())
        throw Error(log::cat("prune: ", name, " is ", src->sizes(), " after cutting but the pruned network expects ",
                             dst.sizes()));
      dst.copy_(*src);
    };
    for (auto& p : pruned->named_parameters()) copy_into(p.key(), p.value());
    for (auto& b : pruned->named_buffers()) copy_into(b.key(), b.value());
  }
  result.net = pruned;
  result.params_after = networks::count_parameters(*pruned);
  return result;
}

void run_prune(const PruneTaskOptions& opts) {
  opts.prune.validate();
  if (opts.model_path.empty()) throw UsageError("prune needs the model to prune: -m <model.kiln>");
  if (opts.output_path.empty()) throw UsageError("prune needs the output model file: -o <pruned.kiln>");
  namespace fs = std::filesystem;
  const std::string out_dir = fs::path(opts.output_path).parent_path().string();
  const ResultsLayout results = ResultsLayout::resolve(opts.results_dir, opts.output_path);
  ensure_writable_dir(out_dir.empty() ? "." : out_dir);
  ensure_writable_dir(results.dir());
  const StatusLog status(results.status());
  try {
    status.write(StatusLog::Status::kStarted, "Starting pruning.");
    LoadedModel model = load_model(opts.model_path);
    model.net->eval();
    log::info(log::cat("Pruning ", opts.model_path, " (", model.net->architecture().summary(), ", ",
                       networks::count_parameters(*model.net), " parameters): threshold ", opts.prune.threshold,
                       ", normalizer ", opts.prune.normalizer, ", equalization ", opts.prune.equalization,
                       ", min filters ", opts.prune.min_num_filters, ", granularity ", opts.prune.granularity));
    const PruneResult r = prune_network(*model.net, opts.prune);
    log::info(r.table());

    ModelFile out;
    out.meta = model.file.meta;
    for (const char* k : {"epoch", "global_step", "history"}) out.meta.erase(k);  // a new model, not a checkpoint
    out.meta["kind"] = "model";
    out.meta["architecture"] = r.net->architecture().to_json();
    out.meta["pruned_from"] = opts.model_path;
    out.meta["prune"] = {{"threshold", opts.prune.threshold},         {"min_num_filters", opts.prune.min_num_filters},
                         {"granularity", opts.prune.granularity},     {"normalizer", opts.prune.normalizer},
                         {"equalization", opts.prune.equalization},   {"excluded_layers", opts.prune.excluded},
                         {"params_before", r.params_before},          {"params_after", r.params_after}};
    put_module_state(*r.net, out);
    write_model_file(opts.output_path, out);

    std::ostringstream ratio;
    ratio << std::fixed << std::setprecision(3) << r.ratio();
    std::cout << "Pruning ratio (pruned/original): " << ratio.str() << std::endl;
    log::info("Pruned model written to " + opts.output_path + " (retrain it with: train -m " + opts.output_path + ")");
    status.write(StatusLog::Status::kSuccess, "Pruning finished successfully.",
                 {{"kpi", {{"pruning_ratio", r.ratio()}, {"param_count", r.params_after},
                           {"original_param_count", r.params_before}}}});
  } catch (const std::exception& e) {
    status.write(StatusLog::Status::kFailure, e.what());
    throw;
  }
}

}  // namespace kiln::runtime
