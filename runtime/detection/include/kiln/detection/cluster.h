// Clustering of DetectNet_v2 grid candidates into detections (docs/detection_postprocessing.md): TAO's
// postprocessing_config.target_class_config.clustering_config, DBSCAN or NMS, one class at a time.
#pragma once
#include <vector>

#include "kiln/detection/kitti.h"

namespace kiln::detection {

// One grid cell's decoded box (input pixels) and its coverage (the sigmoid output of output_cov).
struct Candidate {
  Box box;
  float coverage = 0;
};

// One output box. DBSCAN: `confidence` is the sum of its members' coverages (TAO's "aggregate_cov"; it can exceed 1),
// the box their coverage-weighted mean. NMS: the kept candidate's box and coverage (num_candidates 1).
struct Detection {
  Box box;
  float confidence = 0;
  int class_id = 0;
  int num_candidates = 0;    // cluster size
  float max_coverage = 0;    // largest member coverage (== confidence for NMS)
  float mean_coverage = 0;   // confidence / num_candidates (TAO's Detection.cov)
};

// TAO's clustering_config. Defaults: TAO's default_spec.txt, and proto3's 0 for the keys it leaves unset.
struct ClusteringConfig {
  enum Algorithm { kDbscan, kNms };  // clustering_algorithm DBSCAN | NMS (HYBRID is rejected by TAO TF1 too)
  Algorithm clustering_algorithm = kDbscan;
  float coverage_threshold = 0.005f;          // candidates need coverage > this; [0, 1]
  float dbscan_eps = 0.13f;                   // neighbour when 1 - IoU <= eps; [0, 1]
  float dbscan_min_samples = 1.f;             // used as max(floor(v), 1) summed coverage; >= 0
  float minimum_bounding_box_height = 20.f;   // DBSCAN keeps boxes with height > this; >= 0
  float dbscan_confidence_threshold = 0.f;    // DBSCAN keeps confidence >= this; >= 0
  float nms_iou_threshold = 0.f;              // NMS suppresses IoU > this; [0, 1]
  float nms_confidence_threshold = 0.f;       // NMS keeps coverage > this; [0, 1]
};

// Throws UsageError naming the key when a value is outside the range TAO accepts (only the keys of the selected
// algorithm are checked, as in TAO; coverage_threshold and minimum_bounding_box_height always).
void validate(const ClusteringConfig& config);

// Clusters one image's candidates of one class. Candidates are read in the order given (row-major grid order is
// what the decoder produces); it decides DBSCAN border points, as in scikit-learn. The result is sorted by
// confidence descending, ties by box (x1, y1, x2, y2 ascending): deterministic. O(n^2) in the candidates that pass
// coverage_threshold. UsageError for an invalid config, DataError for a non-finite coverage or coordinate.
std::vector<Detection> cluster_candidates(const std::vector<Candidate>& candidates, const ClusteringConfig& config,
                                          int class_id);

}  // namespace kiln::detection
