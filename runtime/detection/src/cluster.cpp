// DBSCAN and NMS clustering of grid candidates (cluster.h, docs/detection_postprocessing.md). Both follow TAO TF1's
// DetectNet_v2 postprocessor (postprocessor/cluster.py, utilities.py get_keep_indices) and scikit-learn's DBSCAN.
#include "kiln/detection/cluster.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::detection {

namespace {

void check_range(float value, float lo, float hi, const char* key) {
  if (!(value >= lo && value <= hi))
    throw UsageError(log::cat("clustering_config.", key, " must be in [", lo, ", ", hi, "], got ", value));
}

void check_min(float value, float lo, const char* key) {
  if (!(value >= lo) || !std::isfinite(value))
    throw UsageError(log::cat("clustering_config.", key, " must be >= ", lo, ", got ", value));
}

bool finite(const Box& b) {
  return std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2);
}

// TAO cluster.compute_iou: intersection / (union + 1e-5), areas of invalid boxes taken as 0.
double regularized_iou(const Box& a, const Box& b) {
  const double iw = std::max(0.0, double(std::min(a.x2, b.x2)) - double(std::max(a.x1, b.x1)));
  const double ih = std::max(0.0, double(std::min(a.y2, b.y2)) - double(std::max(a.y1, b.y1)));
  const double inter = iw * ih;
  const double uni = double(a.area()) + double(b.area()) - inter;
  return inter / (uni + 1e-5);
}

// TAO get_keep_indices: the "+1 pixel" convention, width = x2 - x1 + 1.
double inclusive_iou(const Box& a, const Box& b) {
  const double iw = std::max(0.0, double(std::min(a.x2, b.x2)) - double(std::max(a.x1, b.x1)) + 1.0);
  const double ih = std::max(0.0, double(std::min(a.y2, b.y2)) - double(std::max(a.y1, b.y1)) + 1.0);
  const double inter = iw * ih;
  const double area_a = (double(a.x2) - a.x1 + 1.0) * (double(a.y2) - a.y1 + 1.0);
  const double area_b = (double(b.x2) - b.x1 + 1.0) * (double(b.y2) - b.y1 + 1.0);
  return inter / (area_a + area_b - inter);
}

std::vector<Detection> dbscan(const std::vector<Candidate>& pts, const ClusteringConfig& c, int class_id) {
  const size_t n = pts.size();
  // scikit-learn: neighbours are the points at distance <= eps (the point itself included when its own distance,
  // 1 - area / (area + 1e-5), is <= eps); a core point's neighbours' sample weights sum to >= min_samples, which
  // TAO passes as max(int(dbscan_min_samples), 1).
  const double min_samples = std::max(std::floor(double(c.dbscan_min_samples)), 1.0);
  const double eps = c.dbscan_eps;
  std::vector<std::vector<int>> neighbours(n);
  for (size_t i = 0; i < n; ++i) {
    if (1.0 - regularized_iou(pts[i].box, pts[i].box) <= eps) neighbours[i].push_back(int(i));
    for (size_t j = i + 1; j < n; ++j) {
      if (1.0 - regularized_iou(pts[i].box, pts[j].box) <= eps) {
        neighbours[i].push_back(int(j));
        neighbours[j].push_back(int(i));
      }
    }
  }
  std::vector<char> core(n, 0);
  for (size_t i = 0; i < n; ++i) {
    double weight = 0;
    for (int j : neighbours[i]) weight += pts[size_t(j)].coverage;
    core[i] = weight >= min_samples;
  }
  // scikit-learn's dbscan_inner: clusters grow depth-first from each unlabelled core point in input order; a border
  // point joins the first cluster that reaches it; points reached by none are noise and dropped.
  std::vector<int> label(n, -1);
  int clusters = 0;
  std::vector<int> stack;
  for (size_t start = 0; start < n; ++start) {
    if (label[start] != -1 || !core[start]) continue;
    size_t i = start;
    while (true) {
      if (label[i] == -1) {
        label[i] = clusters;
        if (core[i])
          for (int v : neighbours[i])
            if (label[size_t(v)] == -1) stack.push_back(v);
      }
      if (stack.empty()) break;
      i = size_t(stack.back());
      stack.pop_back();
    }
    ++clusters;
  }

  struct Acc {
    double w = 0, x1 = 0, y1 = 0, x2 = 0, y2 = 0, max_w = 0;
    int n = 0;
  };
  std::vector<Acc> acc(static_cast<size_t>(clusters));
  for (size_t i = 0; i < n; ++i) {
    if (label[i] < 0) continue;
    Acc& a = acc[size_t(label[i])];
    const double w = pts[i].coverage;
    a.w += w;
    a.x1 += w * pts[i].box.x1;
    a.y1 += w * pts[i].box.y1;
    a.x2 += w * pts[i].box.x2;
    a.y2 += w * pts[i].box.y2;
    a.max_w = std::max(a.max_w, w);
    ++a.n;
  }
  std::vector<Detection> out;
  for (const Acc& a : acc) {
    Detection d;
    d.box = Box{float(a.x1 / a.w), float(a.y1 / a.w), float(a.x2 / a.w), float(a.y2 / a.w)};
    d.confidence = float(a.w);
    d.class_id = class_id;
    d.num_candidates = a.n;
    d.max_coverage = float(a.max_w);
    d.mean_coverage = float(a.w / a.n);
    if (double(d.box.y2) - d.box.y1 <= c.minimum_bounding_box_height) continue;  // TAO: height <= min is dropped
    if (d.confidence < c.dbscan_confidence_threshold) continue;
    out.push_back(d);
  }
  return out;
}

std::vector<Detection> nms(const std::vector<Candidate>& pts, const ClusteringConfig& c, int class_id) {
  std::vector<size_t> order(pts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return pts[a].coverage > pts[b].coverage; });
  std::vector<char> suppressed(pts.size(), 0);
  std::vector<Detection> out;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (suppressed[i]) continue;
    for (size_t m = k + 1; m < order.size(); ++m) {
      const size_t j = order[m];
      if (!suppressed[j] && inclusive_iou(pts[i].box, pts[j].box) > c.nms_iou_threshold) suppressed[j] = 1;
    }
    if (pts[i].coverage > c.nms_confidence_threshold) {
      Detection d;
      d.box = pts[i].box;
      d.confidence = d.max_coverage = d.mean_coverage = pts[i].coverage;
      d.class_id = class_id;
      d.num_candidates = 1;
      out.push_back(d);
    }
  }
  return out;
}

}  // namespace

void validate(const ClusteringConfig& c) {
  if (c.clustering_algorithm != ClusteringConfig::kDbscan && c.clustering_algorithm != ClusteringConfig::kNms)
    throw UsageError(log::cat("clustering_config.clustering_algorithm: unsupported value ",
                              int(c.clustering_algorithm), " (DBSCAN or NMS)"));
  check_range(c.coverage_threshold, 0.f, 1.f, "coverage_threshold");
  check_min(c.minimum_bounding_box_height, 0.f, "minimum_bounding_box_height");
  if (c.clustering_algorithm == ClusteringConfig::kDbscan) {
    check_range(c.dbscan_eps, 0.f, 1.f, "dbscan_eps");
    check_min(c.dbscan_min_samples, 0.f, "dbscan_min_samples");
    check_min(c.dbscan_confidence_threshold, 0.f, "dbscan_confidence_threshold");
  } else {
    check_range(c.nms_iou_threshold, 0.f, 1.f, "nms_iou_threshold");
    check_range(c.nms_confidence_threshold, 0.f, 1.f, "nms_confidence_threshold");
  }
}

std::vector<Detection> cluster_candidates(const std::vector<Candidate>& candidates, const ClusteringConfig& config,
                                          int class_id) {
  validate(config);
  std::vector<Candidate> kept;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& cand = candidates[i];
    if (!std::isfinite(cand.coverage) || !finite(cand.box))
      throw DataError(log::cat("class ", class_id, " candidate ", i, ": non-finite coverage or box (coverage ",
                               cand.coverage, ", box ", cand.box.x1, " ", cand.box.y1, " ", cand.box.x2, " ",
                               cand.box.y2, ")"));
    if (cand.coverage > config.coverage_threshold) kept.push_back(cand);
  }
  std::vector<Detection> out = config.clustering_algorithm == ClusteringConfig::kDbscan
                                   ? dbscan(kept, config, class_id)
                                   : nms(kept, config, class_id);
  std::sort(out.begin(), out.end(), [](const Detection& a, const Detection& b) {
    if (a.confidence != b.confidence) return a.confidence > b.confidence;
    return std::tie(a.box.x1, a.box.y1, a.box.x2, a.box.y2) < std::tie(b.box.x1, b.box.y1, b.box.x2, b.box.y2);
  });
  return out;
}

}  // namespace kiln::detection
