#include "kiln/detection/average_precision.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kiln/common/error.h"

namespace kiln::detection {
namespace {

Detection det(Box b, float confidence, int class_id = 0) {
  Detection d;
  d.box = b;
  d.confidence = confidence;
  d.class_id = class_id;
  return d;
}

ApConfig mode(ApMode m) {
  ApConfig c;
  c.mode = m;
  return c;
}

// 3 ground truths (g1, g2 in image 0; g3 in image 1) and 4 detections, added out of rank order:
//   rank 1  conf 0.9  image 0 on g1           TP   precision 1/1  recall 1/3
//   rank 2  conf 0.8  image 1 on nothing      FP   precision 1/2  recall 1/3
//   rank 3  conf 0.7  image 1 on g3           TP   precision 2/3  recall 2/3
//   rank 4  conf 0.6  image 0 on g1 again     FP (duplicate)      precision 2/4  recall 2/3
// INTEGRATE: envelope 1 on (0, 1/3], 2/3 on (1/3, 2/3], 0 beyond: 1/3·1 + 1/3·2/3 = 5/9.
// SAMPLE: r = 0, .1, .2, .3 -> 1 (recall 1/3 >= r); r = .4, .5, .6 -> 2/3; r = .7 ... 1 -> 0: (4 + 3·2/3) / 11 = 6/11.
ApAccumulator hand_case(ApMode m) {
  ApAccumulator acc(1, mode(m));
  const Box g1{0, 0, 10, 10}, g2{20, 0, 30, 10}, g3{0, 0, 10, 10};
  acc.add_image({{g1, 0}, {g2, 0}}, {det(g1, 0.6f), det(g1, 0.9f)});
  acc.add_image({{g3, 0}}, {det(g3, 0.7f), det({50, 50, 60, 60}, 0.8f)});
  return acc;
}

TEST(AveragePrecisionTest, HandComputedIntegrate) {
  const auto r = hand_case(ApMode::kIntegrate).compute();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_DOUBLE_EQ(r[0].ap, 5.0 / 9.0);
  EXPECT_EQ(r[0].num_ground_truth, 3);
  EXPECT_EQ(r[0].num_detections, 4);
  EXPECT_EQ(r[0].true_positives, 2);
  EXPECT_EQ(r[0].false_positives, 2);
  const std::vector<double> precision = {1, 0.5, 2.0 / 3, 0.5}, recall = {1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3};
  const std::vector<float> confidence = {0.9f, 0.8f, 0.7f, 0.6f};
  EXPECT_EQ(r[0].precision, precision);
  EXPECT_EQ(r[0].recall, recall);
  EXPECT_EQ(r[0].confidence, confidence);
  EXPECT_DOUBLE_EQ(mean_average_precision(r), 5.0 / 9.0);
}

TEST(AveragePrecisionTest, HandComputedSample) {
  const auto r = hand_case(ApMode::kSample).compute();
  EXPECT_DOUBLE_EQ(r[0].ap, 6.0 / 11.0);
}

TEST(AveragePrecisionTest, RankedListDirectly) {
  const std::vector<bool> tp = {true, false, true, false};
  EXPECT_DOUBLE_EQ(average_precision(tp, 3, ApMode::kIntegrate), 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(average_precision(tp, 3, ApMode::kSample), 6.0 / 11.0);
  // FP first: envelope 2/3 up to recall 2/3 (rank 3: 2 TP of 3), then 3/4 at recall 1 dominates it: 3/4 everywhere.
  EXPECT_DOUBLE_EQ(average_precision({false, true, true, true}, 3, ApMode::kIntegrate), 0.75);
  EXPECT_DOUBLE_EQ(average_precision({false, true, true, true}, 3, ApMode::kSample), 0.75);
  EXPECT_DOUBLE_EQ(average_precision({}, 3, ApMode::kIntegrate), 0.0);
  EXPECT_THROW(average_precision(tp, 0, ApMode::kIntegrate), UsageError);
  EXPECT_THROW(average_precision({true, true}, 1, ApMode::kIntegrate), UsageError);
  EXPECT_THROW(average_precision(tp, 3, ApMode::kSample, 1), UsageError);
}

TEST(AveragePrecisionTest, SampleCountsRecallExactlyOnAPoint) {
  // 10 ground truths, 3 perfect detections: recall reaches exactly 0.3, which counts for r = 0.3 (numpy's
  // linspace would give 0.30000000000000004 and miss it): (1 + 1 + 1 + 1) / 11. INTEGRATE: 0.3 · 1.
  const std::vector<bool> tp = {true, true, true};
  EXPECT_DOUBLE_EQ(average_precision(tp, 10, ApMode::kSample), 4.0 / 11.0);
  EXPECT_DOUBLE_EQ(average_precision(tp, 10, ApMode::kIntegrate), 0.3);
  EXPECT_DOUBLE_EQ(average_precision(tp, 10, ApMode::kSample, 3), 1.0 / 3.0);  // r = 0, 0.5, 1 -> 1, 0, 0
}

TEST(AveragePrecisionTest, PerfectDetectionsScoreOne) {
  for (ApMode m : {ApMode::kSample, ApMode::kIntegrate}) {
    ApAccumulator acc(2, mode(m));
    acc.add_image({{{0, 0, 10, 10}, 0}, {{20, 0, 40, 30}, 1}}, {det({0, 0, 10, 10}, 0.3f, 0), det({20, 0, 40, 30}, 0.9f, 1)});
    acc.add_image({{{5, 5, 50, 50}, 0}}, {det({5, 5, 50, 50}, 0.8f, 0)});
    const auto r = acc.compute();
    ASSERT_EQ(r.size(), 2u);
    EXPECT_DOUBLE_EQ(r[0].ap, 1.0);
    EXPECT_DOUBLE_EQ(r[1].ap, 1.0);
    EXPECT_EQ(r[0].true_positives, 2);
    EXPECT_EQ(r[0].false_positives, 0);
    EXPECT_DOUBLE_EQ(mean_average_precision(r), 1.0);
  }
}

TEST(AveragePrecisionTest, AllMissesScoreZero) {
  for (ApMode m : {ApMode::kSample, ApMode::kIntegrate}) {
    ApAccumulator acc(1, mode(m));
    acc.add_image({{{0, 0, 10, 10}, 0}}, {det({100, 100, 110, 110}, 0.9f), det({11, 0, 21, 10}, 0.5f)});
    acc.add_image({}, {det({0, 0, 10, 10}, 0.95f)});  // an image without ground truth: false positive
    const auto r = acc.compute();
    EXPECT_DOUBLE_EQ(r[0].ap, 0.0);
    EXPECT_EQ(r[0].true_positives, 0);
    EXPECT_EQ(r[0].false_positives, 3);
    EXPECT_EQ(r[0].precision, (std::vector<double>{0, 0, 0}));
  }
  ApAccumulator none(1);  // ground truth, no detections
  none.add_image({{{0, 0, 10, 10}, 0}}, {});
  const auto r = none.compute();
  EXPECT_DOUBLE_EQ(r[0].ap, 0.0);
  EXPECT_TRUE(r[0].precision.empty());
}

TEST(AveragePrecisionTest, ClassWithoutGroundTruthIsNaNAndLeftOutOfMean) {
  ApAccumulator acc(3, mode(ApMode::kIntegrate));
  acc.add_image({{{0, 0, 10, 10}, 0}, {{0, 0, 10, 10}, 2}},
                {det({0, 0, 10, 10}, 0.9f, 0), det({0, 0, 10, 10}, 0.9f, 1), det({50, 0, 60, 10}, 0.9f, 2)});
  const auto r = acc.compute();
  EXPECT_DOUBLE_EQ(r[0].ap, 1.0);
  EXPECT_FALSE(r[1].has_ground_truth());
  EXPECT_TRUE(std::isnan(r[1].ap));
  EXPECT_EQ(r[1].false_positives, 1);
  ASSERT_EQ(r[1].recall.size(), 1u);
  EXPECT_TRUE(std::isnan(r[1].recall[0]));
  EXPECT_DOUBLE_EQ(r[2].ap, 0.0);
  EXPECT_DOUBLE_EQ(mean_average_precision(r), 0.5);  // (1 + 0) / 2, class 1 skipped
  EXPECT_TRUE(std::isnan(mean_average_precision({r[1]})));
  EXPECT_TRUE(std::isnan(mean_average_precision({})));
}

TEST(AveragePrecisionTest, IouThresholdIsInclusiveAndPerClass) {
  // GT [0,0,10,10] vs [0,0,10,5]: 50 / 100 = 0.5 exactly. vs [0,0,10,6]: 60 / 100 = 0.6.
  ApConfig c = mode(ApMode::kIntegrate);
  c.iou_thresholds[1] = 0.51f;
  c.iou_thresholds[2] = 0.7f;
  ApAccumulator acc(4, c);
  acc.add_image({{{0, 0, 10, 10}, 0}, {{0, 0, 10, 10}, 1}, {{0, 0, 10, 10}, 2}, {{0, 0, 10, 10}, 3}},
                {det({0, 0, 10, 5}, 0.9f, 0), det({0, 0, 10, 5}, 0.9f, 1), det({0, 0, 10, 6}, 0.9f, 2),
                 det({0, 0, 10, 6}, 0.9f, 3)});
  EXPECT_FLOAT_EQ(acc.iou_threshold(0), 0.5f);
  EXPECT_FLOAT_EQ(acc.iou_threshold(2), 0.7f);
  const auto r = acc.compute();
  EXPECT_EQ(r[0].true_positives, 1);  // 0.5 >= 0.5
  EXPECT_EQ(r[1].true_positives, 0);  // 0.5 < 0.51
  EXPECT_EQ(r[2].true_positives, 0);  // 0.6 < 0.7
  EXPECT_EQ(r[3].true_positives, 1);  // 0.6 >= 0.5
}

TEST(AveragePrecisionTest, BestOverlapAlreadyTakenIsAFalsePositive) {
  // g1 [0,0,10,10], g2 [2,0,12,10]. d1 = g1 takes g1. d2 [0.5,0,10.5,10]: IoU 0.905 with g1, 85/115 = 0.739 with
  // g2. Its best ground truth is taken, so it is a false positive although g2 is free and above 0.5 (VOC, TAO).
  ApAccumulator acc(1, mode(ApMode::kIntegrate));
  acc.add_image({{{0, 0, 10, 10}, 0}, {{2, 0, 12, 10}, 0}}, {det({0, 0, 10, 10}, 0.9f), det({0.5f, 0, 10.5f, 10}, 0.8f)});
  const auto r = acc.compute();
  EXPECT_EQ(r[0].true_positives, 1);
  EXPECT_EQ(r[0].false_positives, 1);
  EXPECT_DOUBLE_EQ(r[0].ap, 0.5);
}

TEST(AveragePrecisionTest, DetectionsOnlyMatchTheirOwnImageAndClass) {
  ApAccumulator acc(2, mode(ApMode::kIntegrate));
  acc.add_image({{{0, 0, 10, 10}, 0}}, {});
  acc.add_image({{{0, 0, 10, 10}, 1}}, {det({0, 0, 10, 10}, 0.9f, 0)});  // right box, wrong image for class 0
  const auto r = acc.compute();
  EXPECT_EQ(acc.num_images(), 2);
  EXPECT_EQ(r[0].false_positives, 1);
  EXPECT_DOUBLE_EQ(r[0].ap, 0.0);
  EXPECT_EQ(r[1].num_detections, 0);
  EXPECT_DOUBLE_EQ(r[1].ap, 0.0);
}

TEST(AveragePrecisionTest, TaoPixelConventionRoundsAndCountsBorders) {
  // GT [0,0,9,9]; detection [0.4,0,9.4,4.6]. Continuous: 8.6·4.6 / (81 + 41.4 − 39.56) = 0.478 < 0.5.
  // TAO: rounded to [0,0,9,5], inclusive areas 100 and 60, intersection 60: 0.6 >= 0.5.
  const std::vector<GroundTruth> gt = {{{0, 0, 9, 9}, 0}};
  const std::vector<Detection> dets = {det({0.4f, 0, 9.4f, 4.6f}, 0.9f)};
  ApConfig c = mode(ApMode::kIntegrate);
  ApAccumulator continuous(1, c);
  continuous.add_image(gt, dets);
  EXPECT_EQ(continuous.compute()[0].true_positives, 0);
  c.tao_pixel_convention = true;
  ApAccumulator tao(1, c);
  tao.add_image(gt, dets);
  EXPECT_EQ(tao.compute()[0].true_positives, 1);
  // Halves round to even: [0.5,0,9.5,4.5] -> [0,0,10,4]: 10·5 / (100 + 55 − 50) = 0.476 < 0.5.
  ApAccumulator half(1, c);
  half.add_image(gt, {det({0.5f, 0, 9.5f, 4.5f}, 0.9f)});
  EXPECT_EQ(half.compute()[0].true_positives, 0);
}

TEST(AveragePrecisionTest, InvalidInputThrows) {
  EXPECT_THROW(ApAccumulator(0), UsageError);
  ApConfig c;
  c.iou_thresholds[5] = 0.5f;
  EXPECT_THROW(ApAccumulator(2, c), UsageError);
  c = ApConfig{};
  c.default_iou_threshold = 1.5f;
  EXPECT_THROW(ApAccumulator(2, c), UsageError);
  ApAccumulator acc(2);
  EXPECT_THROW(acc.add_image({{{0, 0, 1, 1}, 2}}, {}), UsageError);
  EXPECT_THROW(acc.add_image({}, {det({0, 0, 1, 1}, 0.5f, -1)}), UsageError);
  EXPECT_THROW(acc.add_image({}, {det({0, 0, 1, 1}, std::nanf(""))}), DataError);
  EXPECT_EQ(acc.num_images(), 0);  // a rejected image is not added
}

}  // namespace
}  // namespace kiln::detection
