// From DetectNet_v2's output grids to boxes: every cell whose coverage passes the class's coverage_threshold becomes
// a candidate (its decoded box, rasterize.h's decode_cell, with its coverage), and the candidates of each class are
// clustered (cluster.h). This is what evaluate and inference run on each image.
#pragma once
#include <vector>

#include "kiln/detection/cluster.h"
#include "kiln/detection/rasterize.h"

namespace kiln::detection {

// cov [C][H][W] and bbox [C][4][H][W] as the network outputs them (coverage after the sigmoid); `clustering` has one
// entry per class. Detections of all classes, each class's in cluster_candidates' order, classes in id order.
std::vector<Detection> detections_from_grids(const RasterizerConfig& grid, const float* cov, const float* bbox,
                                             const std::vector<ClusteringConfig>& clustering);

}  // namespace kiln::detection
