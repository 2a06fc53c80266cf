#include "kiln/detection/cluster.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "kiln/common/error.h"

namespace kiln::detection {
namespace {

void expect_box(const Box& b, float x1, float y1, float x2, float y2) {
  EXPECT_NEAR(b.x1, x1, 1e-4);
  EXPECT_NEAR(b.y1, y1, 1e-4);
  EXPECT_NEAR(b.x2, x2, 1e-4);
  EXPECT_NEAR(b.y2, y2, 1e-4);
}

// Group A: two boxes 4 px apart (IoU 0.923, distance 0.077 <= eps 0.13), coverage 0.75 each: summed 1.5 >= 1, both
// core. Group B: B1-B2 IoU 0.905 and B1-B3 IoU 0.875 (distance 0.125 <= 0.13) but B2-B3 IoU 0.796 (0.204 > eps);
// B3's neighbourhood sums 0.25 + 0.5 = 0.75 < 1, so it is a border point reached through the core point B1.
// L: alone, coverage 0.9 < 1: not core, noise.
std::vector<Candidate> scene() {
  return {
      {{204, 50, 264, 130}, 0.25f},  // B3
      {{0, 0, 100, 100}, 0.75f},     // A1
      {{400, 0, 450, 60}, 0.9f},     // L
      {{200, 50, 260, 130}, 0.5f},   // B1
      {{4, 0, 104, 100}, 0.75f},     // A2
      {{200, 54, 260, 134}, 0.5f},   // B2
  };
}

TEST(DbscanTest, SeparatedGroupsBecomeCoverageWeightedBoxes) {
  const auto out = cluster_candidates(scene(), ClusteringConfig{}, 3);
  ASSERT_EQ(out.size(), 2u);
  // A: mean of x1 = (0·0.75 + 4·0.75) / 1.5 = 2; confidence = 0.75 + 0.75.
  expect_box(out[0].box, 2, 0, 102, 100);
  EXPECT_FLOAT_EQ(out[0].confidence, 1.5f);
  EXPECT_EQ(out[0].num_candidates, 2);
  EXPECT_FLOAT_EQ(out[0].max_coverage, 0.75f);
  EXPECT_FLOAT_EQ(out[0].mean_coverage, 0.75f);
  EXPECT_EQ(out[0].class_id, 3);
  // B: x1 = (200·0.5 + 200·0.5 + 204·0.25) / 1.25 = 200.8, y1 = (50·0.5 + 54·0.5 + 50·0.25) / 1.25 = 51.6,
  // x2 = (260·0.5 + 260·0.5 + 264·0.25) / 1.25 = 260.8, y2 = (130·0.5 + 134·0.5 + 130·0.25) / 1.25 = 131.6.
  expect_box(out[1].box, 200.8f, 51.6f, 260.8f, 131.6f);
  EXPECT_FLOAT_EQ(out[1].confidence, 1.25f);
  EXPECT_EQ(out[1].num_candidates, 3);
  EXPECT_FLOAT_EQ(out[1].max_coverage, 0.5f);
  EXPECT_NEAR(out[1].mean_coverage, 1.25 / 3, 1e-6);
}

TEST(DbscanTest, ConfidenceThresholdKeepsSumsAtOrAboveIt) {
  ClusteringConfig c;
  c.dbscan_confidence_threshold = 1.3f;
  auto out = cluster_candidates(scene(), c, 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FLOAT_EQ(out[0].confidence, 1.5f);
  c.dbscan_confidence_threshold = 1.25f;  // B's 1.25 is kept: confidence < threshold drops
  out = cluster_candidates(scene(), c, 0);
  EXPECT_EQ(out.size(), 2u);
}

TEST(DbscanTest, MinSamplesIsSummedCoverageOfTheTruncatedValue) {
  ClusteringConfig c;
  // A lone candidate is a cluster only when its own coverage reaches max(int(min_samples), 1).
  const std::vector<Candidate> lone09 = {{{0, 0, 50, 50}, 0.9f}};
  const std::vector<Candidate> lone10 = {{{0, 0, 50, 50}, 1.0f}};
  for (float ms : {0.f, 0.05f, 1.f, 1.9f}) {
    c.dbscan_min_samples = ms;
    EXPECT_TRUE(cluster_candidates(lone09, c, 0).empty()) << ms;
    EXPECT_EQ(cluster_candidates(lone10, c, 0).size(), 1u) << ms;
  }
  // 2.7 -> 2: group A (1.5) is noise now, four identical boxes of coverage 0.5 (2.0) are one box.
  c.dbscan_min_samples = 2.7f;
  auto cands = scene();
  for (int i = 0; i < 4; ++i) cands.push_back({{600, 0, 650, 50}, 0.5f});
  const auto out = cluster_candidates(cands, c, 0);
  ASSERT_EQ(out.size(), 1u);
  expect_box(out[0].box, 600, 0, 650, 50);
  EXPECT_FLOAT_EQ(out[0].confidence, 2.f);
  EXPECT_EQ(out[0].num_candidates, 4);
}

TEST(DbscanTest, CoverageThresholdIsStrict) {
  ClusteringConfig c;  // coverage_threshold 0.005
  std::vector<Candidate> cands = {{{0, 0, 100, 100}, 0.75f}, {{4, 0, 104, 100}, 0.75f}, {{4, 0, 104, 100}, 0.005f}};
  auto out = cluster_candidates(cands, c, 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FLOAT_EQ(out[0].confidence, 1.5f);  // the 0.005 cell is not a candidate
  EXPECT_FLOAT_EQ(out[0].box.x1, 2.f);
  cands[2].coverage = 0.006f;  // now it is: x1 = (0·0.75 + 4·0.75 + 4·0.006) / 1.506
  out = cluster_candidates(cands, c, 0);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NEAR(out[0].confidence, 1.506, 1e-6);
  EXPECT_NEAR(out[0].box.x1, 3.024 / 1.506, 1e-5);
  EXPECT_EQ(out[0].num_candidates, 3);
}

TEST(DbscanTest, MinimumHeightDropsBoxesNotTallerThanIt) {
  ClusteringConfig c;  // minimum_bounding_box_height 20
  EXPECT_TRUE(cluster_candidates({{{0, 10, 50, 30}, 1.f}}, c, 0).empty());  // height 20: dropped
  const auto out = cluster_candidates({{{0, 10, 50, 30.5f}, 1.f}}, c, 0);
  ASSERT_EQ(out.size(), 1u);
  c.minimum_bounding_box_height = 0;
  EXPECT_EQ(cluster_candidates({{{0, 10, 50, 30}, 1.f}}, c, 0).size(), 1u);
}

TEST(DbscanTest, EpsBoundsTheDistance) {
  // IoU of the two boxes: 80·100 / (2·10000 − 8000) = 2/3, distance 1/3.
  const std::vector<Candidate> cands = {{{0, 0, 100, 100}, 0.6f}, {{20, 0, 120, 100}, 0.6f}};
  ClusteringConfig c;
  c.dbscan_eps = 0.3f;  // not neighbours: each sums 0.6 < 1, all noise
  EXPECT_TRUE(cluster_candidates(cands, c, 0).empty());
  c.dbscan_eps = 0.34f;  // neighbours: one box, x1 = 10
  const auto out = cluster_candidates(cands, c, 0);
  ASSERT_EQ(out.size(), 1u);
  expect_box(out[0].box, 10, 0, 110, 100);
  EXPECT_FLOAT_EQ(out[0].confidence, 1.2f);
}

TEST(DbscanTest, TwoThousandCandidatesMakeTwentyBoxes) {
  // 20 objects, 100 candidates each jittered by up to ±2 px, coverage 0.3: 20 clusters of 100, confidence 30.
  std::vector<Candidate> cands;
  uint32_t s = 12345;
  auto jitter = [&] {
    s = s * 1664525u + 1013904223u;
    return float(int(s >> 16) % 5 - 2);
  };
  for (int i = 0; i < 100; ++i)
    for (int o = 0; o < 20; ++o) {
      const float x = 200.f * float(o % 5), y = 200.f * float(o / 5);
      cands.push_back({{x + jitter(), y + jitter(), x + 100 + jitter(), y + 100 + jitter()}, 0.3f});
    }
  const auto out = cluster_candidates(cands, ClusteringConfig{}, 0);
  ASSERT_EQ(out.size(), 20u);
  for (const auto& d : out) {
    EXPECT_EQ(d.num_candidates, 100);
    EXPECT_NEAR(d.confidence, 30.f, 1e-3);
    EXPECT_NEAR(d.box.width(), 100.f, 2.f);
  }
  // Ties on confidence are ordered by box: x1 ascending first.
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].confidence == out[i - 1].confidence) {
      EXPECT_LE(out[i - 1].box.x1, out[i].box.x1);
    }
  }
}

ClusteringConfig nms_config() {
  ClusteringConfig c;
  c.clustering_algorithm = ClusteringConfig::kNms;
  c.nms_iou_threshold = 0.5f;
  c.nms_confidence_threshold = 0.1f;
  return c;
}

TEST(NmsTest, SuppressesOverlapsKeepsStrictlyAboveConfidence) {
  // IoUs with TAO's inclusive pixels (width = x2 - x1 + 1):
  // C1-C2: 96·101 / (2·101·101 − 96·101) = 0.906 > 0.5: C2 suppressed.
  // C4-C5: [0,9]x[0,9] (area 100) and [0,9]x[0,4] (area 50): 50 / 100 = 0.5, not > 0.5: both kept.
  const std::vector<Candidate> cands = {
      {{5, 0, 105, 100}, 0.8f},   // C2
      {{300, 0, 400, 100}, 0.3f}, // C3
      {{0, 0, 100, 100}, 0.9f},   // C1
      {{0, 0, 9, 9}, 0.6f},       // C4
      {{0, 0, 9, 4}, 0.5f},       // C5: 5 px high, kept (TAO's NMS has no height filter)
      {{600, 0, 700, 100}, 0.1f}, // C6: coverage not > 0.1
  };
  const auto out = cluster_candidates(cands, nms_config(), 2);
  ASSERT_EQ(out.size(), 4u);
  expect_box(out[0].box, 0, 0, 100, 100);
  EXPECT_FLOAT_EQ(out[0].confidence, 0.9f);
  EXPECT_EQ(out[0].num_candidates, 1);
  EXPECT_EQ(out[0].class_id, 2);
  EXPECT_FLOAT_EQ(out[1].confidence, 0.6f);
  expect_box(out[2].box, 0, 0, 9, 4);
  EXPECT_FLOAT_EQ(out[3].confidence, 0.3f);
}

TEST(NmsTest, SuppressedBoxesDoNotSuppress) {
  // C1-C2 IoU 71·101 / 13231 = 0.542 (suppressed), C2-C3 also 0.542, C1-C3 41·101 / 16261 = 0.255: C3 survives.
  const std::vector<Candidate> cands = {
      {{0, 0, 100, 100}, 0.9f}, {{30, 0, 130, 100}, 0.8f}, {{60, 0, 160, 100}, 0.7f}};
  const auto out = cluster_candidates(cands, nms_config(), 0);
  ASSERT_EQ(out.size(), 2u);
  expect_box(out[1].box, 60, 0, 160, 100);
}

TEST(NmsTest, EqualConfidenceOrderedByBox) {
  const std::vector<Candidate> cands = {{{500, 0, 600, 100}, 0.5f}, {{0, 50, 100, 150}, 0.5f}, {{0, 0, 10, 10}, 0.5f}};
  const auto out = cluster_candidates(cands, nms_config(), 0);
  ASSERT_EQ(out.size(), 3u);
  expect_box(out[0].box, 0, 0, 10, 10);
  expect_box(out[1].box, 0, 50, 100, 150);
  expect_box(out[2].box, 500, 0, 600, 100);
}

TEST(ClusterTest, EmptyInputGivesNothing) {
  EXPECT_TRUE(cluster_candidates({}, ClusteringConfig{}, 0).empty());
  EXPECT_TRUE(cluster_candidates({}, nms_config(), 0).empty());
}

TEST(ClusterTest, InvalidConfigAndDataThrow) {
  ClusteringConfig c;
  c.dbscan_eps = 1.5f;
  EXPECT_THROW(cluster_candidates({}, c, 0), UsageError);
  c = ClusteringConfig{};
  c.dbscan_min_samples = -1;
  EXPECT_THROW(cluster_candidates({}, c, 0), UsageError);
  c = ClusteringConfig{};
  c.coverage_threshold = 2;
  EXPECT_THROW(cluster_candidates({}, c, 0), UsageError);
  c = ClusteringConfig{};
  c.nms_iou_threshold = 2;  // only the selected algorithm's keys are checked, as in TAO
  EXPECT_NO_THROW(cluster_candidates({}, c, 0));
  c.clustering_algorithm = ClusteringConfig::kNms;
  try {
    cluster_candidates({}, c, 0);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("nms_iou_threshold"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cluster_candidates({{{0, 0, 1, 1}, std::nanf("")}}, ClusteringConfig{}, 0), DataError);
  EXPECT_THROW(cluster_candidates({{{0, 0, INFINITY, 1}, 0.5f}}, ClusteringConfig{}, 0), DataError);
}

}  // namespace
}  // namespace kiln::detection
