// DetectNet_v2 target rasterisation against hand-computed cells (runtime/include/kiln/detection/rasterize.h).
#include "kiln/detection/rasterize.h"

#include <gtest/gtest.h>

#include <vector>

#include "kiln/common/error.h"

namespace kd = kiln::detection;

namespace {

struct Grids {
  std::vector<float> cov, bbox, norm;
};

Grids run(const kd::RasterizerConfig& c, const std::vector<kd::TargetBox>& boxes) {
  const size_t plane = static_cast<size_t>(c.output_width * c.output_height), n = c.classes.size();
  Grids g{std::vector<float>(n * plane, -7.f), std::vector<float>(4 * n * plane, -7.f),
          std::vector<float>(n * plane, -7.f)};  // garbage: rasterize must clear it
  kd::rasterize(c, boxes, g.cov.data(), g.bbox.data(), g.norm.data());
  return g;
}

kd::RasterizerConfig config(int in, int out, int classes) {
  kd::RasterizerConfig c;
  c.input_width = c.input_height = in;
  c.output_width = c.output_height = out;
  c.classes.assign(static_cast<size_t>(classes), kd::RasterClassConfig{});
  return c;
}

}  // namespace

// 64x64 input, 4x4 cells of 16 px. The box (16,16)-(48,48) is (1,1)-(3,3) in cells: centre (2,2), distance to the
// nearer edge 1, coverage radius 0.4·1 = 0.4, grown to bbox_min_radius 1 (aspect 1:1). Dead zone: 0.33·1 + 0.67·1 = 1.
// Cell centres within 1 of (2,2): (1.5,1.5), (1.5,2.5), (2.5,1.5), (2.5,2.5) — the four middle cells.
TEST(Rasterize, HandComputedBoxCoversTheFourMiddleCells) {
  const auto c = config(64, 4, 1);
  const Grids g = run(c, {{{16, 16, 48, 48}, 0}});
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const bool in = (i == 1 || i == 2) && (j == 1 || j == 2);
      EXPECT_EQ(g.cov[static_cast<size_t>(i * 4 + j)], in ? 1.f : 0.f) << i << "," << j;
      EXPECT_EQ(g.norm[static_cast<size_t>(i * 4 + j)], in ? 0.25f : 0.f) << i << "," << j;  // 1/max(4·1·1, 1)
    }
  // Cell (1,1): anchor (16·1 + 0.5, 16·1 + 0.5) = (16.5, 16.5); distances / 35.
  const size_t k = 1 * 4 + 1, plane = 16;
  EXPECT_FLOAT_EQ(g.bbox[0 * plane + k], 0.5f / 35.f);   // left
  EXPECT_FLOAT_EQ(g.bbox[1 * plane + k], 0.5f / 35.f);   // top
  EXPECT_FLOAT_EQ(g.bbox[2 * plane + k], 31.5f / 35.f);  // right
  EXPECT_FLOAT_EQ(g.bbox[3 * plane + k], 31.5f / 35.f);  // bottom
  EXPECT_EQ(g.bbox[0 * plane + 0], 0.f);                 // no box target outside coverage
  // Decoding any covered cell gives the box back.
  for (size_t kk : {size_t{5}, size_t{6}, size_t{9}, size_t{10}}) {
    const int i = static_cast<int>(kk / 4), j = static_cast<int>(kk % 4);
    const kd::Box b = kd::decode_cell(c, i, j, g.bbox[kk], g.bbox[plane + kk], g.bbox[2 * plane + kk],
                                      g.bbox[3 * plane + kk]);
    EXPECT_NEAR(b.x1, 16.f, 1e-4) << kk;
    EXPECT_NEAR(b.y1, 16.f, 1e-4) << kk;
    EXPECT_NEAR(b.x2, 48.f, 1e-4) << kk;
    EXPECT_NEAR(b.y2, 48.f, 1e-4) << kk;
  }
}

TEST(Rasterize, ClassesGoToTheirOwnChannels) {
  const auto c = config(64, 4, 3);
  const Grids g = run(c, {{{16, 16, 48, 48}, 2}});
  float sums[3] = {0, 0, 0};
  for (int ch = 0; ch < 3; ++ch)
    for (int k = 0; k < 16; ++k) sums[ch] += g.cov[static_cast<size_t>(ch * 16 + k)];
  EXPECT_EQ(sums[0], 0.f);
  EXPECT_EQ(sums[1], 0.f);
  EXPECT_EQ(sums[2], 4.f);
  EXPECT_THROW(run(c, {{{16, 16, 48, 48}, 3}}), kiln::Error);
}

// A big box: coverage radii are 0.4 × the half-extent, wider than tall.
TEST(Rasterize, CoverageEllipseFollowsTheBoxShape) {
  const auto c = config(160, 10, 1);  // 16 px cells
  // (0,32)-(160,96): cells (0,2)-(10,6); centre (5,4); half-extents 5 and 2 → radii 2 and 0.8 → grown to 2.5 and 1.
  const Grids g = run(c, {{{0, 32, 160, 96}, 0}});
  std::vector<int> rows(10, 0), cols(10, 0);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j)
      if (g.cov[static_cast<size_t>(i * 10 + j)] > 0) ++rows[static_cast<size_t>(i)], ++cols[static_cast<size_t>(j)];
  // Rows with coverage: centres 3.5 and 4.5 (|dy| = 0.5 ≤ 1); in them columns with |dx| ≤ 2.5·sqrt(1 − 0.25) = 2.17:
  // centres 2.5 .. 7.5 minus the ends: 3.5, 4.5, 5.5, 6.5 (|dx| 1.5, 0.5, 0.5, 1.5) and 2.5/7.5 (|dx| 2.5 > 2.17).
  EXPECT_EQ(rows, (std::vector<int>{0, 0, 0, 4, 4, 0, 0, 0, 0, 0}));
  EXPECT_EQ(cols, (std::vector<int>{0, 0, 0, 2, 2, 2, 2, 0, 0, 0}));
}

TEST(Rasterize, TinyBoxStillGetsItsCell) {
  const auto c = config(64, 4, 1);
  const Grids g = run(c, {{{23, 23, 25, 25}, 0}});  // 2 px, inside cell (1,1): radius grows to 1 cell
  float total = 0;
  for (float v : g.cov) total += v;
  EXPECT_GE(total, 1.f);
  EXPECT_EQ(g.cov[5], 1.f);
}

// Two overlapping objects of one class: the lower one (larger y2) is drawn last, and its dead zone clears the
// other's coverage around it — but only with a dead zone.
TEST(Rasterize, DeadZoneOfTheNearerObjectClearsTheFartherObjectsCells) {
  auto c = config(160, 10, 1);
  const kd::TargetBox far{{16, 16, 112, 96}, 0}, near{{48, 32, 128, 112}, 0};
  c.deadzone_radius = 1.f;  // the dead zone is the box's inscribed ellipse
  const Grids a = run(c, {far}), b = run(c, {near}), both = run(c, {near, far});  // order given does not matter
  c.deadzone_radius = 0.f;  // the dead zone is the coverage ellipse itself
  const Grids both0 = run(c, {near, far});
  int cleared = 0;
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) {
      const size_t k = static_cast<size_t>(i * 10 + j);
      if (a.cov[k] != 1.f || b.cov[k] != 0.f) continue;
      // near's inscribed ellipse in cells: centre (5.5, 4.5), radii 2.5.
      const float dx = (static_cast<float>(j) + 0.5f - 5.5f) / 2.5f, dy = (static_cast<float>(i) + 0.5f - 4.5f) / 2.5f;
      if (dx * dx + dy * dy > 1.f) continue;
      ++cleared;
      EXPECT_EQ(both.cov[k], 0.f) << i << "," << j;
      EXPECT_EQ(both0.cov[k], 1.f) << i << "," << j;
    }
  EXPECT_GT(cleared, 0);  // the geometry above does produce such cells
}

TEST(Rasterize, ConfigValidation) {
  auto c = config(64, 4, 1);
  EXPECT_NO_THROW(c.validate());
  c.deadzone_radius = 1.5f;
  EXPECT_THROW(c.validate(), kiln::UsageError);
  c = config(64, 0, 1);
  EXPECT_THROW(c.validate(), kiln::UsageError);
  c = config(64, 4, 0);
  EXPECT_THROW(c.validate(), kiln::UsageError);
}
