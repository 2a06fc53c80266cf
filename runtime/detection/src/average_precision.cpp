// VOC-style average precision (average_precision.h, docs/detection_postprocessing.md), after TAO DetectNet_v2's
// evaluation/compute_metrics.py ComputeMetrics.
#include "kiln/detection/average_precision.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::detection {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_threshold(float t, const char* what) {
  if (!(t >= 0.f && t <= 1.f)) throw UsageError(log::cat("average precision: ", what, " must be in [0, 1], got ", t));
}

// Python's round(): to the nearest integer, halves to even (the default floating-point rounding mode).
Box rounded(const Box& b) {
  return Box{std::nearbyint(b.x1), std::nearbyint(b.y1), std::nearbyint(b.x2), std::nearbyint(b.y2)};
}

// compute_metrics.iou with border_pixels='include'.
double inclusive_iou(const Box& a, const Box& b) {
  const double iw = std::max(0.0, double(std::min(a.x2, b.x2)) - double(std::max(a.x1, b.x1)) + 1.0);
  const double ih = std::max(0.0, double(std::min(a.y2, b.y2)) - double(std::max(a.y1, b.y1)) + 1.0);
  const double inter = iw * ih;
  const double uni = (double(a.x2) - a.x1 + 1.0) * (double(a.y2) - a.y1 + 1.0) +
                     (double(b.x2) - b.x1 + 1.0) * (double(b.y2) - b.y1 + 1.0) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

}  // namespace

double average_precision(const std::vector<bool>& is_true_positive, int num_ground_truth, ApMode mode,
                         int num_recall_points) {
  if (num_ground_truth <= 0)
    throw UsageError(log::cat("average precision: needs ground truth, got num_ground_truth ", num_ground_truth));
  const size_t n = is_true_positive.size();
  std::vector<int64_t> tp(n);
  int64_t running = 0;
  for (size_t k = 0; k < n; ++k) tp[k] = running += is_true_positive[k] ? 1 : 0;
  if (running > num_ground_truth)
    throw UsageError(log::cat("average precision: ", running, " true positives for ", num_ground_truth,
                              " ground truth boxes"));
  auto precision = [&](size_t k) { return double(tp[k]) / double(k + 1); };

  if (mode == ApMode::kSample) {
    if (num_recall_points < 2)
      throw UsageError(log::cat("average precision: num_recall_points must be >= 2, got ", num_recall_points));
    const int64_t steps = num_recall_points - 1;
    double sum = 0;
    for (int64_t r = 0; r <= steps; ++r) {
      double best = 0;  // no detection reaches recall r/steps: precision 0
      for (size_t k = 0; k < n; ++k)
        if (tp[k] * steps >= r * num_ground_truth) best = std::max(best, precision(k));
      sum += best;
    }
    return sum / double(num_recall_points);
  }

  // INTEGRATE: recall 0..1 with sentinels, precision envelope from the right, sum of width x height where the
  // recall steps.
  std::vector<double> mrec(n + 2), mpre(n + 2);
  mrec[0] = 0;
  mpre[0] = 0;
  for (size_t k = 0; k < n; ++k) {
    mrec[k + 1] = double(tp[k]) / double(num_ground_truth);
    mpre[k + 1] = precision(k);
  }
  mrec[n + 1] = 1;
  mpre[n + 1] = 0;
  for (size_t i = n + 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);
  double ap = 0;
  for (size_t i = 0; i + 1 < mrec.size(); ++i)
    if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
  return ap;
}

ApAccumulator::ApAccumulator(int num_classes, ApConfig config)
    : num_classes_(num_classes), config_(std::move(config)) {
  if (num_classes_ < 1) throw UsageError(log::cat("average precision: num_classes must be >= 1, got ", num_classes_));
  check_threshold(config_.default_iou_threshold, "default IoU threshold");
  for (const auto& [cls, t] : config_.iou_thresholds) {
    if (cls < 0 || cls >= num_classes_)
      throw UsageError(log::cat("average precision: IoU threshold for class ", cls, ", which is not in [0, ",
                                num_classes_, ")"));
    check_threshold(t, log::cat("IoU threshold of class ", cls).c_str());
  }
  if (config_.mode == ApMode::kSample && config_.num_recall_points < 2)
    throw UsageError(
        log::cat("average precision: num_recall_points must be >= 2, got ", config_.num_recall_points));
  ground_truth_.resize(size_t(num_classes_));
  detections_.resize(size_t(num_classes_));
}

float ApAccumulator::iou_threshold(int class_id) const {
  const auto it = config_.iou_thresholds.find(class_id);
  return it != config_.iou_thresholds.end() ? it->second : config_.default_iou_threshold;
}

int ApAccumulator::add_image(const std::vector<GroundTruth>& ground_truth, const std::vector<Detection>& detections) {
  const int image = num_images_;
  auto check_class = [&](int cls, const char* what, size_t index) {
    if (cls < 0 || cls >= num_classes_)
      throw UsageError(log::cat("average precision: image ", image, " ", what, " ", index, " has class ", cls,
                                ", not in [0, ", num_classes_, ")"));
  };
  for (size_t i = 0; i < ground_truth.size(); ++i) check_class(ground_truth[i].class_id, "ground truth", i);
  for (size_t i = 0; i < detections.size(); ++i) {
    check_class(detections[i].class_id, "detection", i);
    if (!std::isfinite(detections[i].confidence))
      throw DataError(log::cat("average precision: image ", image, " detection ", i, " has confidence ",
                               detections[i].confidence));
  }
  for (auto& per_class : ground_truth_) per_class.emplace_back();
  for (const GroundTruth& g : ground_truth)
    ground_truth_[size_t(g.class_id)].back().push_back(config_.tao_pixel_convention ? rounded(g.box) : g.box);
  for (const Detection& d : detections)
    detections_[size_t(d.class_id)].push_back(
        Scored{image, config_.tao_pixel_convention ? rounded(d.box) : d.box, d.confidence});
  return num_images_++;
}

std::vector<ClassAp> ApAccumulator::compute() const {
  std::vector<ClassAp> out;
  for (int cls = 0; cls < num_classes_; ++cls) {
    const auto& gt = ground_truth_[size_t(cls)];
    const auto& dets = detections_[size_t(cls)];
    ClassAp r;
    r.class_id = cls;
    for (const auto& boxes : gt) r.num_ground_truth += int(boxes.size());
    r.num_detections = int(dets.size());

    std::vector<size_t> order(dets.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return dets[a].confidence > dets[b].confidence; });

    const float threshold = iou_threshold(cls);
    std::vector<std::vector<char>> taken(gt.size());
    for (size_t i = 0; i < gt.size(); ++i) taken[i].assign(gt[i].size(), 0);
    std::vector<bool> is_tp;
    is_tp.reserve(dets.size());
    for (size_t k : order) {
      const Scored& d = dets[k];
      const auto& boxes = gt[size_t(d.image)];
      bool tp = false;
      if (!boxes.empty()) {
        size_t best = 0;
        bool pass = false;
        if (config_.tao_pixel_convention) {
          double best_iou = -1;
          for (size_t g = 0; g < boxes.size(); ++g) {
            const double v = inclusive_iou(boxes[g], d.box);
            if (v > best_iou) best_iou = v, best = g;
          }
          pass = best_iou >= double(threshold);
        } else {
          float best_iou = -1;
          for (size_t g = 0; g < boxes.size(); ++g) {
            const float v = iou(boxes[g], d.box);
            if (v > best_iou) best_iou = v, best = g;
          }
          pass = best_iou >= threshold;
        }
        if (pass && !taken[size_t(d.image)][best]) {
          taken[size_t(d.image)][best] = 1;
          tp = true;
        }
      }
      is_tp.push_back(tp);
      r.true_positives += tp ? 1 : 0;
      r.false_positives += tp ? 0 : 1;
      const int rank = int(is_tp.size());
      r.precision.push_back(double(r.true_positives) / rank);
      r.recall.push_back(r.num_ground_truth > 0 ? double(r.true_positives) / r.num_ground_truth : kNaN);
      r.confidence.push_back(d.confidence);
    }
    r.ap = r.num_ground_truth > 0
               ? average_precision(is_tp, r.num_ground_truth, config_.mode, config_.num_recall_points)
               : kNaN;
    out.push_back(std::move(r));
  }
  return out;
}

double mean_average_precision(const std::vector<ClassAp>& classes) {
  double sum = 0;
  int n = 0;
  for (const ClassAp& c : classes)
    if (c.has_ground_truth()) sum += c.ap, ++n;
  return n > 0 ? sum / n : kNaN;
}

}  // namespace kiln::detection
