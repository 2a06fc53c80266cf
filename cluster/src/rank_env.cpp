#include "kiln/cluster/rank_env.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <vector>

#include "kiln/common/env_knobs.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::cluster {
namespace {

// One environment contract: the variable names that carry each field (empty = not provided by this contract).
struct Contract {
  const char* name;
  const char* rank;
  const char* size;
  const char* local_rank;
  const char* local_size;
  const char* node_rank;
  const char* addr;
  const char* port;
  // The rank variable alone does not select this contract: try the next one when `size` is missing. Slurm's PMIx
  // plugin (srun --mpi=pmix) and PRRTE set PMIX_RANK and PMIX_NAMESPACE but no size variable (PMIx programs ask the
  // server for PMIX_JOB_SIZE); SLURM_PROCID/SLURM_NTASKS then give the rank.
  bool skip_without_size = false;
};

// Order matters (first match wins). Inside an sbatch allocation, ranks started by mpirun inherit SLURM_PROCID=0,
// so the MPI/PMIx variables come before Slurm's.
constexpr Contract kContracts[] = {
    {"kiln", knob::kRank.name, knob::kWorldSize.name, knob::kLocalRank.name, knob::kLocalWorldSize.name,
     knob::kNodeRank.name, knob::kMasterAddr.name, knob::kMasterPort.name},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_NODE_RANK", "", ""},
    {"pmix", "PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE", "PMIX_NODE_RANK", "", "", true},
    {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "", "", ""},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "SLURM_NODEID", "", ""},
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
     "MASTER_PORT"},
};

std::optional<int> read_int(const EnvLookup& env, const char* var, const char* contract) {
  if (!*var) return std::nullopt;
  auto v = env(var);
  if (!v || v->empty()) return std::nullopt;
  // Slurm writes SLURM_NTASKS_PER_NODE as "2(x3)" for homogeneous nodes; the count comes first.
  char* end = nullptr;
  long out = std::strtol(v->c_str(), &end, 10);
  if (end == v->c_str() || (*end != '\0' && *end != '(' && *end != ','))
    throw UsageError(std::string(contract) + " environment: " + var + "='" + *v + "' is not an integer");
  return static_cast<int>(out);
}

// Entry `index` of a Slurm compressed count list "2(x3),1" → 2,2,2,1; nullopt when the list is shorter.
std::optional<int> slurm_count_at(const std::string& list, int index, const char* var) {
  int seen = 0;
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(pos, end - pos);
    int count = 0, repeat = 1;
    char tail = 0;
    const int fields = std::sscanf(item.c_str(), "%d(x%d%c", &count, &repeat, &tail);
    if (fields < 1 || count < 1 || repeat < 1 || (fields >= 2 && tail != ')'))
      throw UsageError(std::string("slurm environment: ") + var + "='" + list + "' is not a task count list");
    if (index < seen + repeat) return count;
    seen += repeat;
    pos = end + 1;
  }
  return std::nullopt;
}

// Ranks on this node. SLURM_NTASKS_PER_NODE is only set when the job asked for --ntasks-per-node; a plain
// `srun -n 4` over uneven nodes describes the layout in SLURM_STEP_TASKS_PER_NODE ("2(x3),1", by node id).
int slurm_local_size(const EnvLookup& env, const RankInfo& info) {
  for (const char* var : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE"}) {
    const auto v = env(var);
    if (!v || v->empty()) continue;
    if (auto n = slurm_count_at(*v, info.node_rank, var)) return *n;
  }
  return info.local_world_size;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

int gpu_for_rank(const RankInfo& info, const EnvLookup& env) {
  for (const auto& [var, index] : {std::pair<const char*, int>{knob::kRankGpus.name, info.rank},
                                   std::pair<const char*, int>{knob::kGpuIndex.name, info.local_rank}}) {
    const auto v = env(var);
    if (!v || v->empty()) continue;
    const auto items = split_commas(*v);
    if (static_cast<size_t>(index) >= items.size())
      throw UsageError(log::cat(var, "=", *v, " lists ", items.size(), " GPU(s) but this is ", info.str()));
    char* end = nullptr;
    const long gpu = std::strtol(items[static_cast<size_t>(index)].c_str(), &end, 10);
    if (items[static_cast<size_t>(index)].empty() || *end != '\0' || gpu < 0)
      throw UsageError(log::cat(var, "=", *v, ": '", items[static_cast<size_t>(index)], "' is not a GPU index"));
    return static_cast<int>(gpu);
  }
  return info.local_rank;
}

std::string RankInfo::str() const {
  std::ostringstream os;
  os << "rank " << rank << "/" << world_size << " (local " << local_rank << "/" << local_world_size << ", node "
     << node_rank << ") from " << source;
  return os.str();
}

RankInfo discover_rank(const EnvLookup& env) {
  std::string incomplete;  // a skip_without_size contract seen without its size
  for (const Contract& c : kContracts) {
    auto rank = read_int(env, c.rank, c.name);
    if (!rank) continue;
    auto size = read_int(env, c.size, c.name);
    if (!size && c.skip_without_size) {
      if (incomplete.empty())
        incomplete = std::string(c.name) + " environment: " + c.rank + " is set but " + c.size + " is not";
      continue;
    }
    if (!size) throw UsageError(std::string(c.name) + " environment: " + c.rank + " is set but " + c.size + " is not");
    if (*size < 1 || *rank < 0 || *rank >= *size)
      throw UsageError(std::string(c.name) + " environment: " + c.rank + "=" + std::to_string(*rank) + " is not in [0, " +
                       c.size + "=" + std::to_string(*size) + ")");
    RankInfo info;
    info.source = c.name;
    info.rank = *rank;
    info.world_size = *size;
    info.local_rank = read_int(env, c.local_rank, c.name).value_or(*rank);
    info.local_world_size = read_int(env, c.local_size, c.name).value_or(*size);
    info.node_rank = read_int(env, c.node_rank, c.name).value_or(0);
    if (info.source == "slurm") info.local_world_size = slurm_local_size(env, info);
    if (info.local_world_size < 1 || info.local_rank < 0 || info.local_rank >= info.local_world_size)
      throw UsageError(std::string(c.name) + " environment: local rank " + std::to_string(info.local_rank) +
                       " is not in [0, " + std::to_string(info.local_world_size) + ")");
    if (*c.addr) info.master_addr = env(c.addr).value_or("");
    info.master_port = read_int(env, c.port, c.name).value_or(0);
    return info;
  }
  if (!incomplete.empty())
    throw UsageError(incomplete + ", and no other launcher's variables (SLURM_PROCID/SLURM_NTASKS, ...) give the rank");
  return RankInfo{};
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

RankInfo discover_rank() { return discover_rank(process_env()); }

int threads_per_rank(const RankInfo& info, int hardware_threads) {
  const int per = hardware_threads / std::max(1, info.local_world_size);
  return std::max(1, per);
}

int default_threads(const RankInfo& info, int hardware_threads, const EnvLookup& env, std::string* source) {
  const std::optional<std::string> omp = env("OMP_NUM_THREADS");
  if (omp && !omp->empty() && omp->size() <= 6 && omp->find_first_not_of("0123456789") == std::string::npos &&
      std::stoi(*omp) >= 1) {
    if (source) *source = "OMP_NUM_THREADS";
    return std::stoi(*omp);
  }
  const std::optional<std::string> slurm = env("SLURM_CPUS_PER_TASK");
  if (slurm && !slurm->empty() && slurm->size() <= 6 &&
      slurm->find_first_not_of("0123456789") == std::string::npos && std::stoi(*slurm) >= 1) {
    if (source) *source = "SLURM_CPUS_PER_TASK";
    return std::stoi(*slurm);
  }
  if (source)
    *source = "this host's " + std::to_string(hardware_threads) + " cores / " +
              std::to_string(std::max(1, info.local_world_size)) + " local rank(s)";
  return threads_per_rank(info, hardware_threads);
}

}  // namespace kiln::cluster
