// Networks known to kiln. Each network is built from an Architecture (a plain description: arch name, input shape,
// classes and the channel count of every prunable layer), so a checkpoint that stores the Architecture rebuilds the
// exact model — including a pruned one — without the original spec.
#pragma once
#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "kiln/networks/graph.h"

namespace kiln::networks {

struct Architecture {
  std::string arch;          // registry name: "lenet5", "resnet", "mobilenet_v2", "detectnet_v2"
  int n_layers = 18;         // resnet, detectnet_v2 (its ResNet backbone): 10, 18 or 34
  int in_channels = 1;
  int height = 28, width = 28;
  int num_classes = 10;
  bool use_batch_norm = true;
  bool use_bias = false;
  double dropout = 0.0;
  int base_width = 64;       // resnet, detectnet_v2: channels of the first stage
  int output_stride = 16;    // detectnet_v2: stride of the output grid, 16 or 8 (kept in JSON for detectnet_v2 only)
  // Output channels per prunable layer (name → count). Filled with the defaults by the network's factory when empty.
  std::map<std::string, int64_t> channels;

  nlohmann::json to_json() const;
  static Architecture from_json(const nlohmann::json& j);  // throws kiln::DataError on a malformed description
  std::string summary() const;  // one line: "resnet18 1x28x28 → 10 classes, 11.2M params" style (without params)
};

// A network: a classifier's forward() returns logits [N, num_classes]; DetectNet_v2's (detectnet_v2.h) returns its
// two heads joined along the channels, [N, 5 * num_classes, H / stride, W / stride].
class Network : public torch::nn::Module {
 public:
  virtual at::Tensor forward(at::Tensor x) = 0;
  virtual const Architecture& architecture() const = 0;
  // Freeze-block index of a parameter (TAO's freeze_blocks): 0 = stem, 1.. = later blocks; -1 = never frozen (head).
  virtual int block_of(const std::string& param_name) const = 0;
  virtual int num_blocks() const = 0;
  // The inference-time dataflow of forward() (eval mode: no dropout), one node per op; run_graph(graph(), *this, x)
  // equals forward(x) in eval mode.
  virtual Graph graph() const = 0;
};

using Factory = std::function<std::shared_ptr<Network>(Architecture)>;

// Registry of networks by arch name. Built-ins (lenet5, resnet, mobilenet_v2, detectnet_v2) are registered on first
// use. Which arch a task accepts is its spec's business (classification: lenet5, resnet, mobilenet_v2).
void register_network(const std::string& arch, Factory factory);
std::vector<std::string> network_names();
// Builds the network; fills default channel counts; throws kiln::UsageError for an unknown arch or bad config.
std::shared_ptr<Network> create(const Architecture& arch);

int64_t count_parameters(const torch::nn::Module& m);

}  // namespace kiln::networks
