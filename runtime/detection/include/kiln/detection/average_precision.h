// VOC-style average precision per class over a validation set, as TAO DetectNet_v2's evaluation_config
// (docs/detection_postprocessing.md): minimum_detection_ground_truth_overlap, average_precision_mode SAMPLE|INTEGRATE.
#pragma once
#include <map>
#include <vector>

#include "kiln/detection/cluster.h"
#include "kiln/detection/kitti.h"

namespace kiln::detection {

enum class ApMode {
  kSample,     // SAMPLE: VOC2007, mean over num_recall_points recalls r of the max precision at recall >= r
  kIntegrate,  // INTEGRATE: VOC2010+, area under the monotone precision envelope over all points
};

struct ApConfig {
  ApMode mode = ApMode::kSample;  // TAO's proto default (its default_spec.txt sets INTEGRATE)
  int num_recall_points = 11;     // SAMPLE only; >= 2
  float default_iou_threshold = 0.5f;
  std::map<int, float> iou_thresholds;  // class id -> minimum_detection_ground_truth_overlap, overrides the default
  // false: continuous coordinates and iou() of kitti.h. true: TAO's ComputeMetrics exactly: every coordinate rounded
  // to an integer (half to even, as Python's round) and IoU with border pixels included (width = x2 - x1 + 1).
  bool tao_pixel_convention = false;
};

struct GroundTruth {
  Box box;
  int class_id = 0;
};

// The result for one class. The arrays have one entry per detection of the class, in rank order (confidence
// descending, ties in the order added): the curve after the first k detections is (recall[k-1], precision[k-1]).
struct ClassAp {
  int class_id = 0;
  int num_ground_truth = 0;
  int num_detections = 0;
  int true_positives = 0;   // over all detections
  int false_positives = 0;
  double ap = 0;            // NaN when num_ground_truth == 0 (undefined; mean_average_precision skips it)
  std::vector<double> precision;   // cumulative TP / (TP + FP)
  std::vector<double> recall;      // cumulative TP / num_ground_truth (NaN when there is no ground truth)
  std::vector<float> confidence;   // the detection's confidence at each rank
  bool has_ground_truth() const { return num_ground_truth > 0; }
};

// AP of one ranked list: is_true_positive[k] for the detection at rank k, num_ground_truth > 0 (UsageError
// otherwise). SAMPLE compares recall against k/(num_recall_points-1) exactly (tp·(N-1) >= k·num_gt).
double average_precision(const std::vector<bool>& is_true_positive, int num_ground_truth, ApMode mode,
                         int num_recall_points = 11);

// Collects ground truth and detections image by image, then matches and scores every class.
class ApAccumulator {
 public:
  // UsageError when num_classes < 1, a threshold is outside [0, 1], an override names no class, or
  // num_recall_points < 2.
  explicit ApAccumulator(int num_classes, ApConfig config = {});

  // Adds one image (any classes mixed) and returns its index. UsageError for a class id outside [0, num_classes),
  // DataError for a non-finite confidence.
  int add_image(const std::vector<GroundTruth>& ground_truth, const std::vector<Detection>& detections);

  int num_images() const { return num_images_; }
  int num_classes() const { return num_classes_; }
  float iou_threshold(int class_id) const;

  // One entry per class, by class id. Matching: each class's detections over all images in rank order; each takes
  // the ground truth of its image and class with the highest IoU (first on ties); IoU >= threshold and that ground
  // truth not yet taken: true positive (it is taken), otherwise false positive (VOC and TAO: no fall back to the
  // next best ground truth).
  std::vector<ClassAp> compute() const;

 private:
  struct Scored {
    int image;
    Box box;
    float confidence;
  };
  int num_classes_;
  ApConfig config_;
  int num_images_ = 0;
  std::vector<std::vector<std::vector<Box>>> ground_truth_;  // [class][image] -> boxes
  std::vector<std::vector<Scored>> detections_;              // [class] in the order added
};

// Mean AP over the classes with ground truth; NaN when none has any.
double mean_average_precision(const std::vector<ClassAp>& classes);

}  // namespace kiln::detection
