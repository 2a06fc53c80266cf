// Checkpoints in a results folder (results_layout.h): checkpoints/<arch>_epoch_NNN.kiln, checkpoints/latest (the
// newest file's name, replaced atomically after the checkpoint itself is durable), and model.kiln (weights only) at
// the end.
#pragma once
#include <torch/optim/optimizer.h>

#include <optional>
#include <string>
#include <vector>

#include "kiln/networks/network.h"
#include "kiln/runtime/model_file.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"

namespace kiln::runtime {

struct TrainState {
  int64_t epoch = 0;        // epochs completed
  int64_t global_step = 0;  // optimizer steps completed
  std::vector<EpochRecord> history;
};

struct CheckpointContent {
  networks::Network* net;
  torch::optim::Optimizer* optimizer;  // nullptr: weights-only model file
  const TrainState* state;
  std::string spec_yaml;
  std::vector<std::string> class_names;
  int world_size = 1;
  int64_t global_batch = 0;
  nlohmann::json extra = nlohmann::json::object();  // merged into the file's meta (e.g. detection's objective weights)
};

ModelFile make_model_file(const CheckpointContent& c);
// Writes checkpoints/<arch>_epoch_NNN.kiln and moves the `latest` pointer; returns the checkpoint path.
std::string save_checkpoint(const ResultsLayout& results, const CheckpointContent& c);
// The final model: model.kiln, weights, architecture, classes and spec without the optimizer state. Returns its path.
std::string save_final_model(const ResultsLayout& results, CheckpointContent c);

// The checkpoint a run resumes from: the one `latest` names when it reads and verifies (read_model_file), else the
// newest other checkpoint in checkpoints/ (by the epoch in its name) that does; a WARNING names each one skipped and
// why. nullopt when there is no `latest` (nothing to resume). DataError (exit 3) when none verifies, naming each.
struct ResumePoint {
  std::string path;
  ModelFile file;
};
std::optional<ResumePoint> resume_point(const ResultsLayout& results);
// Restores weights, optimizer, RNG and training state from a checkpoint; checks the architecture matches.
TrainState resume_from(const std::string& path, const ModelFile& file, networks::Network& net,
                       torch::optim::Optimizer& optimizer);

// Loads any .kiln file and rebuilds its network from the stored architecture.
struct LoadedModel {
  std::shared_ptr<networks::Network> net;
  ModelFile file;
  std::vector<std::string> class_names;
};
LoadedModel load_model(const std::string& path);

}  // namespace kiln::runtime
