#include "kiln/runtime/train_step.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <optional>

#include "kiln/common/log.h"

namespace kiln::runtime {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerConfig& o, std::vector<at::Tensor> params,
                                                        double lr) {
  if (o.name == "adam")
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(lr).betas({o.beta_1, o.beta_2}).eps(o.epsilon));
  return std::make_unique<torch::optim::SGD>(params,
                                             torch::optim::SGDOptions(lr).momentum(o.momentum).nesterov(o.nesterov));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

void move_optimizer_state(torch::optim::Optimizer& opt, c10::Device device) {
  const auto move = [&](const at::Tensor& t) { return t.defined() ? t.to(device) : t; };
  for (auto& entry : opt.state()) {
    if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(entry.second.get())) {
      sgd->momentum_buffer(move(sgd->momentum_buffer()));
    } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(entry.second.get())) {
      adam->exp_avg(move(adam->exp_avg()));
      adam->exp_avg_sq(move(adam->exp_avg_sq()));
      adam->max_exp_avg_sq(move(adam->max_exp_avg_sq()));
    }
  }
}

std::vector<at::Tensor> trainable_parameters(networks::Network& net, const std::vector<int64_t>& freeze_blocks) {
  std::vector<at::Tensor> params;
  int frozen = 0;
  for (auto& p : net.named_parameters()) {
    const int block = net.block_of(p.key());
    const bool freeze = std::find(freeze_blocks.begin(), freeze_blocks.end(), block) != freeze_blocks.end();
    p.value().set_requires_grad(!freeze);
    if (freeze)
      ++frozen;
    else
      params.push_back(p.value());
  }
  if (frozen) log::info(log::cat("Frozen ", frozen, " parameter tensors (freeze_blocks)"));
  return params;
}

TrainStep::TrainStep(networks::Network& net, torch::optim::Optimizer& optimizer, RegularizerConfig reg,
                     double label_smoothing, collectives::GradientReducer* reducer, MixedPrecision* amp)
    : net_(net),
      optimizer_(optimizer),
      reg_(reg),
      label_smoothing_(label_smoothing),
      reducer_(reducer),
      amp_(amp && amp->enabled() ? amp : nullptr) {
  if (reg_.type == "None" || reg_.weight_decay == 0) return;
  for (auto& p : net.named_parameters()) {
    const std::string& name = p.key();
    const bool is_weight = name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    const auto dim = p.value().dim();
    if (is_weight && p.value().requires_grad() && ((dim == 4 && reg_.conv) || (dim == 2 && reg_.dense)))
      reg_weights_.push_back(p.value());
  }
}

std::vector<at::Tensor> TrainStep::optimized_parameters() const {
  std::vector<at::Tensor> params;
  for (const auto& group : optimizer_.param_groups())
    params.insert(params.end(), group.params().begin(), group.params().end());
  return params;
}

// Added to the gradients, as PyTorch's weight_decay does, but only for the layer types in scope.
void TrainStep::regularize() {
  at::NoGradGuard no_grad;
  for (const auto& w : reg_weights_) {
    if (!w.grad().defined()) continue;
    if (reg_.type == "L2")
      w.mutable_grad().add_(w, reg_.weight_decay);
    else
      w.mutable_grad().add_(w.sign(), reg_.weight_decay);
  }
}

at::Tensor TrainStep::step(const std::function<at::Tensor()>& forward_loss, double lr) {
  set_lr(optimizer_, lr);
  optimizer_.zero_grad();
  at::Tensor loss;
  {
    std::optional<MixedPrecision::Region> autocast;
    if (amp_) autocast.emplace(*amp_);
    loss = forward_loss();
  }
  LossScaler* scaler = amp_ ? amp_->scaler() : nullptr;
  (scaler ? scaler->scale_loss(loss) : loss).backward();  // with a reducer, buckets are all-reduced while this runs
  if (reducer_) reducer_->finalize();
  if (scaler && !scaler->unscale_and_update(optimized_parameters())) return loss;  // overflow: the step is skipped
  regularize();
  optimizer_.step();
  return loss;
}

StepResult TrainStep::run(const at::Tensor& images, const at::Tensor& labels, double lr) {
  at::Tensor logits;
  const at::Tensor loss = step(
      [&] {
        logits = net_.forward(images);
        return torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing_));
      },
      lr);
  return {loss.item<double>(), logits.argmax(1).eq(labels).sum().item<int64_t>()};
}

}  // namespace kiln::runtime
