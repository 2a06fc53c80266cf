// Builds a network's Graph from its live modules: each Conv/BatchNorm/Linear node takes its shapes (channels, kernel,
// stride, padding, groups, eps) from the module's own options, so the graph cannot drift from what forward() runs.
#pragma once
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <set>
#include <string>
#include <vector>

#include "kiln/networks/graph.h"
#include "kiln/networks/network.h"

namespace kiln::networks {

// Every method returns the index of the node it added. The node's name is `module` for Conv/BatchNorm/Linear, `name`
// otherwise; names must be unique (kiln::Error otherwise: a bug in the network's graph()).
class GraphBuilder {
 public:
  explicit GraphBuilder(const Architecture& arch);

  int conv(const std::string& module, const torch::nn::Conv2d& conv, int input, std::string channel_key);
  int batch_norm(const std::string& module, const torch::nn::BatchNorm2d& bn, int input);
  int linear(const std::string& module, const torch::nn::Linear& linear, int input, std::string channel_key);
  int relu(std::string name, int input);
  int relu6(std::string name, int input);
  int add(std::string name, int a, int b);
  int max_pool(std::string name, int input, int64_t kernel, int64_t stride, int64_t padding);
  int global_avg_pool(std::string name, int input);
  int flatten(std::string name, int input);
  int sigmoid(std::string name, int input);
  int concat(std::string name, std::vector<int> inputs);  // along the channels; two or more inputs

  // The finished graph, with `output` as the node forward() returns (the logits) and, for a network whose deployed
  // model has several outputs, those (Graph::outputs: valid nodes, names unique and no node's name).
  Graph finish(int output, std::vector<Graph::Output> outputs = {});

 private:
  int push(Node node);

  Graph graph_;
  std::set<std::string> names_;
};

}  // namespace kiln::networks
