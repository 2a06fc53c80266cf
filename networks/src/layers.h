// Small builders shared by the network definitions.
#pragma once
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <string>

#include "kiln/common/error.h"
#include "kiln/networks/network.h"

namespace kiln::networks {

inline torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad, bool bias,
                              int64_t groups = 1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias).groups(groups));
}

// Channel count of a prunable layer: the architecture's value (after pruning) or the default, recorded back.
inline int64_t channels_of(Architecture& a, const std::string& layer, int64_t def) {
  auto it = a.channels.find(layer);
  if (it == a.channels.end()) return a.channels[layer] = def;
  if (it->second < 1) throw UsageError("architecture: layer " + layer + " has " + std::to_string(it->second) + " channels");
  return it->second;
}

}  // namespace kiln::networks
