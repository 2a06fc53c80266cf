// How a training run starts (run.h drives it): the network built with the right layer widths, its trainable
// parameters and optimizer, resumed from the latest checkpoint or loaded from pretrained weights, moved to its device,
// and the gradient reducer that makes every replica start from rank 0's weights.
#pragma once
#include <ATen/Tensor.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/collectives/reducer.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/model_file.h"
#include "kiln/runtime/results_layout.h"

namespace kiln::runtime {

class Distributed;

// A pruned model, or a checkpoint of its retraining, carries its own layer widths: they replace the spec's defaults
// when the network is the same, so retraining is `train -m pruned.kiln` as in TAO.
void adopt_layer_widths(networks::Architecture& arch, const ModelFile& file, const std::string& path);

// What a training run starts from: the checkpoint to resume in `results` (resume_point: `latest`, else the newest
// that verifies), else the pretrained model (when `pretrained` is set), else nothing; the network is built with that
// file's layer widths when they differ from the defaults (adopt_layer_widths), its trainable parameters chosen by
// `freeze_blocks`, and the optimizer made at `initial_lr`. The torch RNG is seeded first, so a fresh network's
// weights follow from `seed`. Pretrained weights (no checkpoint to resume) are loaded here; resuming is the caller's
// (resume_from), as it restores more state.
struct RunStart {
  std::optional<std::string> latest;  // the checkpoint to resume
  std::optional<ModelFile> source;    // its contents, else the pretrained model's
  std::shared_ptr<networks::Network> net;
  std::vector<at::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};
RunStart start_run(const ResultsLayout& results, const std::string& pretrained, networks::Architecture arch,
                   const std::vector<int64_t>& freeze_blocks, const OptimizerConfig& optimizer, double initial_lr,
                   uint64_t seed);

// Moves a run restored on the CPU to `device` (no-op on the CPU): the network, then the optimizer's state.
void move_run_to(RunStart& run, c10::Device device);

// Whether a run keeps its convolution weights in channels_last (NHWC): train_config.memory_format channels_last or
// contiguous as written; auto is channels_last on every device: NHWC is what tensor cores work in on CUDA, and on
// this project's CPU it trained faster than NCHW for every model measured, with and without AMP
// (docs/mixed_precision.md).
bool uses_channels_last(const std::string& memory_format);
// Re-lays every 4-D parameter in channels_last: convolutions then compute in NHWC, with the activations following
// their weights. Values and parameter identity are unchanged (files and the reducer see logical order).
void to_channels_last(RunStart& run);

// The module's buffers (batch-norm statistics), e.g. to average them across ranks.
std::vector<at::Tensor> module_buffers(networks::Network& net);

// The bucketed gradient reducer of a data-parallel run (nullptr on one rank), after broadcasting rank 0's parameters
// and buffers so every replica starts identical.
std::unique_ptr<collectives::GradientReducer> make_reducer(Distributed& dist, networks::Network& net,
                                                           const std::vector<at::Tensor>& params,
                                                           const DataParallelConfig& dp);

}  // namespace kiln::runtime
