// A validated DetectNet_v2 experiment spec (specs/detectnet_v2.h), turned into the settings of kiln's detection
// pieces: the network's architecture, data sources, augmentation, rasteriser, cost, schedule, post-processing and
// evaluation. Per-class settings come out in target-class order (cost_function_config.target_classes), whatever order
// the spec's maps list them in.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "kiln/networks/network.h"
#include "kiln/detection/augment.h"
#include "kiln/detection/average_precision.h"
#include "kiln/detection/cluster.h"
#include "kiln/detection/rasterize.h"
#include "kiln/runtime/detection_loss.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/schedule.h"
#include "kiln/specs/spec.h"

namespace kiln::runtime {

struct DetectionSource {
  std::string shards;     // folder written by detectnet_v2 dataset_convert
  int fold = -1;          // only this fold; -1: every fold (but except_fold)
  int except_fold = -1;   // with fold -1: every fold but this one (training beside validation_fold)
};

struct EvaluationBox {
  float minimum_height = 0, maximum_height = 1e9f, minimum_width = 0, maximum_width = 1e9f;
};

struct DetectnetConfig {
  std::vector<std::string> classes;  // target classes = output channels
  networks::Architecture arch;       // detectnet_v2
  std::vector<int64_t> freeze_blocks;
  std::string pretrained_model_path;

  std::vector<DetectionSource> train, val;  // val empty: no validation
  std::map<std::string, std::string> class_mapping;  // source → target; empty = identity
  size_t max_samples = 0;

  detection::AugmentConfig augment;
  detection::RasterizerConfig grid;  // input = preprocessing output, output = input / stride
  DetectionCostConfig cost;

  int64_t batch_size = 8, n_epochs = 120, random_seed = 42;
  CheckpointPolicy checkpoints{10};
  VisualizerConfig visualizer;
  AmpConfig amp;
  std::string memory_format = "auto";
  int n_workers = 2;
  LrSchedule schedule;
  OptimizerConfig optimizer;
  RegularizerConfig regularizer;
  DataParallelConfig data_parallel;

  std::vector<detection::ClusteringConfig> clustering;
  detection::ApConfig ap;
  std::vector<EvaluationBox> evaluation_boxes;
  int64_t validation_period = 10, first_validation_epoch = 1;

  static DetectnetConfig from_spec(const specs::Spec& spec);
};

// The DetectNet_v2 schema with no path required to exist, for the subtasks that read only part of the training spec
// (evaluate: the validation shards; inference and export: no data at all). Each checks what it reads.
const specs::Schema& detectnet_schema_without_path_checks();

}  // namespace kiln::runtime
