// Launcher names, world size, and where each rank runs.
#include <algorithm>
#include <sstream>

#include "cluster_config_rules.h"
#include "kiln/cluster/cluster_config.h"

namespace kiln::cluster {
namespace {

// Slurm without listed hosts: the allocation decides, so the rows name the allocation's nodes by index.
std::vector<Node> nodes_to_place(const ClusterConfig& config) {
  if (!config.nodes.empty() || config.launcher != Launcher::kSlurm) return config.nodes;
  const detail::SlurmShape shape = detail::slurm_shape(config);
  std::vector<Node> nodes;
  for (int i = 0; i < shape.nodes; ++i)
    nodes.push_back(Node{"<slurm node " + std::to_string(i) + ">", shape.tasks_per_node, {}});
  return nodes;
}

}  // namespace

const char* launcher_name(Launcher launcher) {
  switch (launcher) {
    case Launcher::kLocal:
      return "local";
    case Launcher::kMpirun:
      return "mpirun";
    case Launcher::kSlurm:
      return "slurm";
  }
  return "?";
}

std::optional<Launcher> launcher_from_name(const std::string& name) {
  for (Launcher l : {Launcher::kLocal, Launcher::kMpirun, Launcher::kSlurm}) {
    if (name == launcher_name(l)) return l;
  }
  return std::nullopt;
}

int ClusterConfig::world_size() const {
  int n = 0;
  for (const Node& node : nodes_to_place(*this)) n += node.slots;
  return n;
}

std::vector<RankPlace> place_ranks(const ClusterConfig& config) {
  std::vector<RankPlace> places;
  const std::vector<Node> nodes = nodes_to_place(config);
  for (size_t n = 0; n < nodes.size(); ++n) {
    for (int local = 0; local < nodes[n].slots; ++local) {
      RankPlace p;
      p.rank = static_cast<int>(places.size());
      p.node = static_cast<int>(n);
      p.host = nodes[n].host;
      p.local_rank = local;
      p.local_size = nodes[n].slots;
      if (static_cast<size_t>(local) < nodes[n].gpus.size()) p.gpu = nodes[n].gpus[static_cast<size_t>(local)];
      places.push_back(std::move(p));
    }
  }
  return places;
}

std::string placement_table(const ClusterConfig& config) {
  const std::vector<RankPlace> places = place_ranks(config);
  std::vector<std::vector<std::string>> rows{{"rank", "host", "local_rank", "gpu"}};
  for (const RankPlace& p : places) {
    rows.push_back({std::to_string(p.rank), p.host, std::to_string(p.local_rank) + "/" + std::to_string(p.local_size),
                    p.gpu < 0 ? "-" : std::to_string(p.gpu)});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::ostringstream out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
  const size_t hosts = places.empty() ? 0 : static_cast<size_t>(places.back().node) + 1;
  out << places.size() << (places.size() == 1 ? " rank" : " ranks") << " on " << hosts
      << (hosts == 1 ? " host" : " hosts") << " (launcher " << launcher_name(config.launcher) << ")\n";
  return out.str();
}

}  // namespace kiln::cluster
