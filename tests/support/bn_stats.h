// Test helper: gives every batch-norm layer of a module non-trivial running statistics and affine parameters. Fresh
// ones (mean 0, var 1, weight 1, bias 0) make eval-mode batch norm the identity (up to eps), which would hide a
// skipped, misread or wrongly folded BN. Used by the graph, export and prune tests.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <cstdint>

namespace kiln::test_support {

// Every submodule (the module itself included) with running_mean and running_var buffers of its own — any
// BatchNorm, or anything else that keeps running statistics — gets mean ~ N(0, 0.2²), var ~ U(0.5, 1.5), and, where
// present, weight ~ U(0.5, 1.5) and bias ~ N(0, 0.2²), drawn from a generator seeded with `seed` (the global RNG is
// not used: the values depend on the seed and the module's layout only). Returns the number of layers changed, so
// that a test can check it did change some. The module's train/eval mode is left as it is.
inline int randomise_batch_norms(torch::nn::Module& module, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  int changed = 0;
  // apply() visits the module itself too, and unlike modules(/*include_self=*/true) works for one on the stack.
  module.apply([&](torch::nn::Module& m) {
    at::Tensor mean, var, weight, bias;
    for (const auto& b : m.named_buffers(/*recurse=*/false)) {
      if (b.key() == "running_mean") mean = b.value();
      if (b.key() == "running_var") var = b.value();
    }
    if (!mean.defined() || !var.defined()) return;
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      if (p.key() == "weight") weight = p.value();
      if (p.key() == "bias") bias = p.value();
    }
    mean.normal_(0.0, 0.2, gen);
    var.uniform_(0.5, 1.5, gen);
    if (weight.defined()) weight.uniform_(0.5, 1.5, gen);
    if (bias.defined()) bias.normal_(0.0, 0.2, gen);
    ++changed;
  });
  return changed;
}

}  // namespace kiln::test_support
