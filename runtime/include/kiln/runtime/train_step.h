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
#include "kiln/runtime/mixed_precision.h"
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
  // `reducer` (data-parallel runs) averages gradients across ranks between backward and the optimizer step. `amp`
  // (when not null and enabled) runs the forward pass and the loss under autocast, and scales the loss for fp16.
  TrainStep(networks::Network& net, torch::optim::Optimizer& optimizer, RegularizerConfig reg, double label_smoothing,
            collectives::GradientReducer* reducer = nullptr, MixedPrecision* amp = nullptr);
  // Classification: cross-entropy (with label smoothing) of the network's logits.
  StepResult run(const at::Tensor& images, const at::Tensor& labels, double lr);
  // Any loss: sets the LR, clears gradients, calls `forward_loss` (it runs the network and returns the scalar loss;
  // under autocast with AMP), backpropagates (gradients all-reduced by the reducer meanwhile), regularises and steps.
  // With fp16 loss scaling a step whose gradients overflowed is skipped (LossScaler). Returns the loss.
  at::Tensor step(const std::function<at::Tensor()>& forward_loss, double lr);

 private:
  void regularize();
  std::vector<at::Tensor> optimized_parameters() const;
  networks::Network& net_;
  torch::optim::Optimizer& optimizer_;
  RegularizerConfig reg_;
  double label_smoothing_;
  collectives::GradientReducer* reducer_;
  MixedPrecision* amp_;
  std::vector<at::Tensor> reg_weights_;  // TAO's reg_config scope: conv (4-D) and dense (2-D) weights only
};

}  // namespace kiln::runtime
