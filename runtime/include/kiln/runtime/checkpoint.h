// Checkpoints in a results folder (results_layout.h): checkpoints/<arch>_epoch_NNN.kiln at the end of an epoch,
// checkpoints/<arch>_epoch_NNN_step_SSSSSSS.kiln inside one (NNN epochs done, at global step S), checkpoints/latest
// (the newest file's name, replaced atomically after the checkpoint itself is durable), and model.kiln (weights
// only) at the end.
#pragma once
#include <torch/optim/optimizer.h>
#include <torch/serialize/output-archive.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/networks/network.h"
#include "kiln/runtime/model_file.h"
#include "kiln/runtime/report.h"
#include "kiln/runtime/results_layout.h"

namespace kiln::runtime {

// Where a checkpoint taken inside an epoch stands: the steps of the current epoch done, the samples of the epoch's
// global order they consumed (DistributedSampler::indices(consumed)), and each rank's running state — its epoch sums
// and batch-norm buffers, one double tensor per rank of the world that saved it — so that a resume on the same
// world size continues bit for bit. steps == 0: at an epoch boundary.
struct EpochPosition {
  int64_t steps = 0;
  int64_t consumed = 0;
  std::vector<at::Tensor> rank_state;
};

struct TrainState {
  int64_t epoch = 0;        // epochs completed
  int64_t global_step = 0;  // optimizer steps completed
  std::vector<EpochRecord> history;
  EpochPosition position;   // inside epoch `epoch` (mid-epoch checkpoints)
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

// A checkpoint taken now and serialised later (by CheckpointWriter's thread): the weights and RNG are cloned, and the
// optimizer's state tensors are handed over whole — the optimizer goes on with fresh copies of them — so taking it
// costs a memory copy, while LibTorch's slow archive encoding of the optimizer state happens in finish().
class CheckpointSnapshot {
 public:
  explicit CheckpointSnapshot(const CheckpointContent& c);
  // The complete file (the optimizer blob encoded now); call once, on any thread.
  ModelFile finish();

 private:
  ModelFile file_;
  std::shared_ptr<torch::serialize::OutputArchive> optimizer_;
};
// The file name checkpoints/latest holds ("" when there is none).
std::string latest_checkpoint_name(const ResultsLayout& results);
// The checkpoint's file name in checkpoints/: by epoch, or by epoch and step inside an epoch.
std::string checkpoint_file_name(const ResultsLayout& results, const CheckpointContent& c);
// Writes the checkpoint and moves the `latest` pointer; returns the checkpoint path. (Training writes through
// CheckpointWriter, in the background.)
std::string save_checkpoint(const ResultsLayout& results, const CheckpointContent& c);
// The checkpoint files in `dir`, newest first (by epoch, then step; an epoch's end after its mid-epoch files).
std::vector<std::string> checkpoint_files_newest_first(const std::string& dir);
// Removes all but the newest `keep` checkpoint files (never the one `latest` names); returns the names removed.
std::vector<std::string> remove_old_checkpoints(const ResultsLayout& results, int64_t keep);
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
