// DetectNet_v2's validation and evaluation, shared by `detectnet_v2 train` (validation every few epochs) and
// `detectnet_v2 evaluate`: AP per class over all ranks' shares of the data, its table, metrics.json and PR curves.
// Private to the runtime module.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kiln/detection/average_precision.h"
#include "kiln/networks/network.h"
#include "kiln/runtime/detection_data.h"
#include "kiln/runtime/detectnet_config.h"
#include "kiln/runtime/tasks.h"
#include "kiln/specs/spec.h"

namespace kiln::runtime {

class Distributed;

// The loader settings of training (`train`: augmented, drop_last) or evaluation batches.
DetectionLoaderOptions detection_loader_options(const DetectnetConfig& cfg, bool train, int64_t epoch);

struct DetectionMetrics {
  std::vector<detection::ClassAp> classes;
  double map = 0;
};

// AP on `data`: each rank infers its contiguous share; detections and ground truth (at most 100 per image, boxes in
// the network's input pixels) travel in one all-reduced table, so every rank scores the whole set.
DetectionMetrics evaluate_detection(networks::Network& net, const DetectionData& data, const DetectnetConfig& cfg,
                                    Distributed& dist);
std::string ap_table(const DetectionMetrics& m, const std::vector<std::string>& names);
// status.json's groups for these metrics (status_schema.h): kpi "mean average precision", categorical
// "average_precision" per class, both in percent.
nlohmann::json ap_status_fields(const DetectionMetrics& m, const std::vector<std::string>& names);
// <dir>/metrics.json and <dir>/pr_curves.png.
void write_evaluation(const DetectionMetrics& m, const std::vector<std::string>& names, const std::string& dir,
                      const std::string& title);

// The spec (validated) and its settings.
struct DetectnetExperiment {
  specs::Spec spec;
  DetectnetConfig cfg;
};
DetectnetExperiment load_detectnet_experiment(const RunOptions& opts);
// For evaluate: only the validation shards (validation_data_source, or data_sources with validation_fold) must exist.
DetectnetExperiment load_detectnet_evaluation(const RunOptions& opts);

}  // namespace kiln::runtime
