// One optimisation step (forward, loss, backward, regulariser, optimizer step) and the pieces it is made of. The
// trainer's loop and the golden test against PyTorch both go through TrainStep, so the test checks what runs.
#pragma once
#include <ATen/Tensor.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/collectives/reducer.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/model_file.h"

namespace kiln::runtime {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& o, std::vector<at::Tensor> params,
                                                        double lr);
void set_lr(torch::optim::Optimizer& opt, double lr);
// Moves SGD momentum / Adam moments to `device` after the model moved there (a resumed optimizer starts on the CPU).
void move_optimizer_state(torch::optim::Optimizer& opt, c10::Device device);

// Sets requires_grad from freeze_blocks and returns the parameters left to train.
std::vector<at::Tensor> trainable_parameters(networks::Network& net, const std::vector<int64_t>& freeze_blocks);

struct StepResult {
  double loss = 0;     // mean loss of the batch
  int64_t correct = 0; // top-1 hits in the batch
};

class TrainStep {
 public:
  // `reducer` (data-parallel runs) averages gradients across ranks between backward and the optimizer step.
  TrainStep(networks::Network& net, torch::optim::Optimizer& optimizer, RegularizerConfig reg, double label_smoothing,
            collectives::GradientReducer* reducer = nullptr);
  // Classification: cross-entropy (with label smoothing) of the network's logits.
  StepResult run(const at::Tensor& images, const at::Tensor& labels, double lr);
  // Any loss: sets the LR, clears gradients, calls `forward_loss` (it runs the network and returns the scalar loss),
  // backpropagates (gradients all-reduced by the reducer meanwhile), regularises and steps. Returns the loss.
  at::Tensor step(const std::function<at::Tensor()>& forward_loss, double lr);

 private:
  void regularize();
  networks::Network& net_;
  torch::optim::Optimizer& optimizer_;
  RegularizerConfig reg_;
  double label_smoothing_;
  collectives::GradientReducer* reducer_;
  std::vector<at::Tensor> reg_weights_;  // TAO's reg_config scope: conv (4-D) and dense (2-D) weights only
};

class Distributed;

// A pruned model, or a checkpoint of its retraining, carries its own layer widths: they replace the spec's defaults
// when the network is the same, so retraining is `train -m pruned.kiln` as in TAO.
void adopt_layer_widths(networks::Architecture& arch, const ModelFile& file, const std::string& path);

// What a training run starts from: the latest checkpoint in `results_dir` (to resume), else the pretrained model
// (when `pretrained` is set), else nothing; the network is built with that file's layer widths when they differ from
// the defaults (adopt_layer_widths), its trainable parameters chosen by `freeze_blocks`, and the optimizer made at
// `initial_lr`. The torch RNG is seeded first, so a fresh network's weights follow from `seed`. Pretrained weights
// (no checkpoint to resume) are loaded here; resuming is the caller's (resume_from), as it restores more state.
struct RunStart {
  std::optional<std::string> latest;  // the checkpoint to resume
  std::optional<ModelFile> source;    // its contents, else the pretrained model's
  std::shared_ptr<networks::Network> net;
  std::vector<at::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};
RunStart start_run(const std::string& results_dir, const std::string& pretrained, networks::Architecture arch,
                   const std::vector<int64_t>& freeze_blocks, const OptimizerConfig& optimizer, double initial_lr,
                   uint64_t seed);

// Moves a run restored on the CPU to `device` (no-op on the CPU): the network, then the optimizer's state.
void move_run_to(RunStart& run, c10::Device device);

// The module's buffers (batch-norm statistics), e.g. to average them across ranks.
std::vector<at::Tensor> module_buffers(networks::Network& net);

// The bucketed gradient reducer of a data-parallel run (nullptr on one rank), after broadcasting rank 0's parameters
// and buffers so every replica starts identical.
std::unique_ptr<collectives::GradientReducer> make_reducer(Distributed& dist, networks::Network& net,
                                                           const std::vector<at::Tensor>& params,
                                                           const DataParallelConfig& dp);

}  // namespace kiln::runtime
