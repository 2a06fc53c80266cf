// Classification metrics: top-1, top-k, per-class accuracy and the confusion matrix. Counts are kept as sums so
// shards evaluated on different ranks can be added together before the metrics are derived.
#pragma once
#include <ATen/Tensor.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/networks/network.h"
#include "kiln/data/dataset.h"
#include "kiln/data/loader.h"

namespace kiln::runtime {

struct EvalCounts {
  int64_t count = 0, correct_top1 = 0, correct_topk = 0;
  double loss_sum = 0;
  at::Tensor confusion;  // int64 [classes, classes]: row = true label, column = prediction

  void add(const at::Tensor& logits, const at::Tensor& labels, int top_k);
  // Adds every rank's counts together (each rank evaluated its own shard); no-op on one rank.
  void all_reduce(class Distributed& dist, int64_t num_classes);
};

struct Metrics {
  int64_t count = 0;
  int top_k = 5;
  double loss = 0, top1 = 0, topk = 0;
  std::vector<double> per_class;      // accuracy per true class (-1 when the class has no samples)
  std::vector<std::string> class_names;
  at::Tensor confusion;

  static Metrics from_counts(const EvalCounts& c, int top_k, std::vector<std::string> class_names);
  nlohmann::json to_json() const;     // kpi-style: top1/topk/loss/per-class/confusion
  std::string table() const;          // human-readable report
  // The confusion matrix for a terminal: rows the true class, columns the prediction, class names as labels (the
  // columns' cut to their width). More than kMaxPrintedClasses classes: the most frequent confusions instead, and
  // where the whole matrix is (`csv_path`).
  std::string confusion_table(const std::string& csv_path) const;
  static constexpr int64_t kMaxPrintedClasses = 12;
};

// This rank's share of an evaluation set: records rank, rank + world, ... (no padding, so metrics are exact).
std::vector<size_t> shard_indices(size_t n, int rank, int world_size);

// The device of a module's parameters (CPU for a module without any).
c10::Device model_device(const torch::nn::Module& net);

// Runs `net` in eval mode over records `indices` of `ds` (e.g. shard_indices(ds.size(), 0, 1): all of them).
EvalCounts evaluate_counts(networks::Network& net, const data::Dataset& ds, const data::Augmentation& transform,
                           int64_t batch_size, int top_k, int workers, std::vector<size_t> indices);

// Writes metrics.json, per_class_accuracy.csv and confusion_matrix.csv into `dir` (each atomically).
void write_metrics(const Metrics& m, const std::string& dir);

}  // namespace kiln::runtime
