#include "kiln/runtime/train_step.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <algorithm>

#include "kiln/common/log.h"
#include "kiln/runtime/checkpoint.h"
#include "kiln/runtime/distributed.h"
#include "kiln/runtime/model_file.h"

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
                     double label_smoothing, collectives::GradientReducer* reducer)
    : net_(net), optimizer_(optimizer), reg_(reg), label_smoothing_(label_smoothing), reducer_(reducer) {
  if (reg_.type == "None" || reg_.weight_decay == 0) return;
  for (auto& p : net.named_parameters()) {
    const std::string& name = p.key();
    const bool is_weight = name.size() >= 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    const auto dim = p.value().dim();
    if (is_weight && p.value().requires_grad() && ((dim == 4 && reg_.conv) || (dim == 2 && reg_.dense)))
      reg_weights_.push_back(p.value());
  }
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
  at::Tensor loss = forward_loss();
  loss.backward();  // with a reducer, buckets are all-reduced while this runs
  if (reducer_) reducer_->finalize();
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

// A pruned model, or a checkpoint of its retraining, carries its own layer widths: they replace the spec's defaults
// when the network is the same, so retraining is `train -m pruned.kiln` as in TAO.
void adopt_layer_widths(networks::Architecture& arch, const ModelFile& file, const std::string& path) {
  if (!file.meta.contains("architecture")) return;
  const auto stored = networks::Architecture::from_json(file.meta.at("architecture"));
  if (stored.arch != arch.arch || stored.n_layers != arch.n_layers || stored.base_width != arch.base_width) return;
  networks::Architecture unpruned = stored;
  unpruned.channels.clear();  // the factory fills in the defaults
  const auto defaults = networks::create(unpruned)->architecture().channels;
  if (stored.channels == defaults || stored.channels == arch.channels) return;
  arch.channels = stored.channels;
  log::info("Layer widths from " + path + " (a pruned model): " + stored.summary());
}

std::vector<at::Tensor> module_buffers(networks::Network& net) {
  std::vector<at::Tensor> out;
  for (auto& b : net.named_buffers()) out.push_back(b.value());
  return out;
}

RunStart start_run(const std::string& results_dir, const std::string& pretrained, networks::Architecture arch,
                   const std::vector<int64_t>& freeze_blocks, const OptimizerConfig& optimizer, double initial_lr,
                   uint64_t seed) {
  at::manual_seed(seed);
  RunStart r;
  r.latest = latest_checkpoint(results_dir);
  if (r.latest)
    r.source = read_model_file(*r.latest);
  else if (!pretrained.empty())
    r.source = read_model_file(pretrained);
  if (r.source) adopt_layer_widths(arch, *r.source, r.latest ? *r.latest : pretrained);
  r.net = networks::create(arch);
  r.params = trainable_parameters(*r.net, freeze_blocks);
  r.optimizer = make_optimizer(optimizer, r.params, initial_lr);
  if (!r.latest && r.source) {
    log::info("Loading pretrained weights from " + pretrained);
    log::info(transfer_module_state(*r.net, *r.source).table());
  }
  return r;
}

void move_run_to(RunStart& run, c10::Device device) {
  if (device.is_cpu()) return;
  run.net->to(device);  // the parameters keep their identity, so the optimizer still holds them
  move_optimizer_state(*run.optimizer, device);
}

std::unique_ptr<collectives::GradientReducer> make_reducer(Distributed& dist, networks::Network& net,
                                                           const std::vector<at::Tensor>& params,
                                                           const DataParallelConfig& dp) {
  if (!dist.comm()) return nullptr;
  collectives::ReducerOptions ro;
  ro.buckets.first_bucket_bytes = static_cast<size_t>(dp.first_bucket_mb * (1 << 20));
  ro.buckets.bucket_bytes = static_cast<size_t>(dp.bucket_mb * (1 << 20));
  const std::string& comp = dp.gradient_compression;
  ro.compression = comp == "fp16"   ? collectives::Compression::kFp16
                   : comp == "bf16" ? collectives::Compression::kBf16
                                    : collectives::Compression::kNone;
  auto reducer = std::make_unique<collectives::GradientReducer>(*dist.comm(), params, ro);
  std::vector<at::Tensor> state_tensors = net.parameters();
  for (const auto& b : module_buffers(net)) state_tensors.push_back(b);
  reducer->broadcast(state_tensors, 0);  // every replica starts from rank 0's weights
  return reducer;
}

}  // namespace kiln::runtime
