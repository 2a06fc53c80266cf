// Rasterised targets, read back as if a perfect network had predicted them, cluster into the ground-truth boxes and
// score AP 1: the rasteriser, decoding, clustering and AP agree with each other.
#include "kiln/detection/postprocess.h"

#include <gtest/gtest.h>

#include "kiln/common/error.h"
#include "kiln/detection/average_precision.h"

namespace kd = kiln::detection;

namespace {

kd::RasterizerConfig grid160() {
  kd::RasterizerConfig c;
  c.input_width = c.input_height = 160;
  c.output_width = c.output_height = 10;  // stride 16
  c.classes.assign(2, kd::RasterClassConfig{});
  return c;
}

struct Out {
  std::vector<float> cov, bbox, norm;
};

Out targets(const kd::RasterizerConfig& g, const std::vector<kd::TargetBox>& boxes) {
  Out o{std::vector<float>(2 * 100), std::vector<float>(2 * 4 * 100), std::vector<float>(2 * 100)};
  kd::rasterize(g, boxes, o.cov.data(), o.bbox.data(), o.norm.data());
  return o;
}

}  // namespace

TEST(Postprocess, PerfectGridsGiveBackTheGroundTruth) {
  const auto g = grid160();
  const std::vector<kd::TargetBox> gt = {{{8, 10, 60, 70}, 0}, {{90, 20, 150, 100}, 0}, {{30, 95, 110, 150}, 1}};
  const Out o = targets(g, gt);
  const std::vector<kd::ClusteringConfig> dbscan(2);
  const auto dets = kd::detections_from_grids(g, o.cov.data(), o.bbox.data(), dbscan);
  ASSERT_EQ(dets.size(), 3u);
  for (const kd::TargetBox& t : gt) {
    bool found = false;
    for (const kd::Detection& d : dets)
      if (d.class_id == t.class_id && kd::iou(d.box, t.box) > 0.999f) found = true;
    EXPECT_TRUE(found) << t.box.x1 << "," << t.box.y1;
  }
  kd::ApAccumulator acc(2);
  std::vector<kd::GroundTruth> truth;
  for (const auto& t : gt) truth.push_back({t.box, t.class_id});
  acc.add_image(truth, dets);
  const auto aps = acc.compute();
  EXPECT_DOUBLE_EQ(aps[0].ap, 1.0);
  EXPECT_DOUBLE_EQ(aps[1].ap, 1.0);

  // NMS on the same grids: one box per object too (every cell decodes to the same box).
  std::vector<kd::ClusteringConfig> nms(2);
  for (auto& c : nms) c.clustering_algorithm = kd::ClusteringConfig::kNms, c.nms_iou_threshold = 0.5f;
  EXPECT_EQ(kd::detections_from_grids(g, o.cov.data(), o.bbox.data(), nms).size(), 3u);
}

TEST(Postprocess, CoverageThresholdAndClassCount) {
  const auto g = grid160();
  Out o = targets(g, {{{8, 10, 60, 70}, 0}});
  for (auto& v : o.cov) v *= 0.004f;  // below the default coverage_threshold 0.005: no candidate at all
  EXPECT_TRUE(kd::detections_from_grids(g, o.cov.data(), o.bbox.data(), std::vector<kd::ClusteringConfig>(2)).empty());
  EXPECT_THROW(kd::detections_from_grids(g, o.cov.data(), o.bbox.data(), std::vector<kd::ClusteringConfig>(1)),
               kiln::Error);
}
