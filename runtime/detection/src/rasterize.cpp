// DetectNet_v2 target rasterisation (rasterize.h).
#include "kiln/detection/rasterize.h"

#include <algorithm>
#include <cmath>

#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::detection {

void RasterizerConfig::validate() const {
  if (input_width <= 0 || input_height <= 0 || output_width <= 0 || output_height <= 0)
    throw UsageError(log::cat("rasterizer: input ", input_width, "x", input_height, " and output ", output_width, "x",
                              output_height, " must be positive"));
  if (classes.empty()) throw UsageError("rasterizer: no target classes");
  if (!(deadzone_radius >= 0 && deadzone_radius <= 1))
    throw UsageError(log::cat("bbox_rasterizer_config.deadzone_radius must be in [0, 1], not ", deadzone_radius));
  if (!(bbox_scale > 0)) throw UsageError(log::cat("objective_set.bbox.scale must be > 0, not ", bbox_scale));
  for (const RasterClassConfig& c : classes) {
    for (float v : {c.cov_center_x, c.cov_center_y, c.cov_radius_x, c.cov_radius_y, c.bbox_min_radius})
      if (!(v >= 0 && v <= 1))
        throw UsageError(log::cat("bbox_rasterizer_config.target_class_config values must be in [0, 1], not ", v));
  }
}

namespace {

struct Ellipse {
  float cx, cy;  // output coordinates
  float csx, csy;  // coverage radii
  float dsx, dsy;  // dead-zone radii (>= coverage radii)
};

// TAO's bbox_from_rumpy_params, in output coordinates.
Ellipse ellipse_of(const Box& b, const RasterClassConfig& c, float deadzone_radius) {
  Ellipse e{};
  e.cx = b.x1 + c.cov_center_x * (b.x2 - b.x1);
  e.cy = b.y1 + c.cov_center_y * (b.y2 - b.y1);
  const float sx = c.cov_center_x < 0.5f ? e.cx - b.x1 : b.x2 - e.cx;  // distance to the nearer edge
  const float sy = c.cov_center_y < 0.5f ? e.cy - b.y1 : b.y2 - e.cy;
  float csx = std::max(c.cov_radius_x * sx, 0.1f);
  float csy = std::max(c.cov_radius_y * sy, 0.1f);
  const float m = c.bbox_min_radius;
  if (csx < m) csy = m * csy / csx, csx = m;  // grow to the minimum radius, keeping the aspect
  if (csy < m) csx = m * csx / csy, csy = m;
  e.csx = csx, e.csy = csy;
  // The dead zone interpolates between the coverage ellipse and the box's own extent, never smaller than coverage.
  e.dsx = std::max((1.f - deadzone_radius) * csx + deadzone_radius * sx, csx);
  e.dsy = std::max((1.f - deadzone_radius) * csy + deadzone_radius * sy, csy);
  return e;
}

}  // namespace

void rasterize(const RasterizerConfig& config, std::vector<TargetBox> boxes, float* cov, float* bbox,
               float* cov_norm) {
  const int C = static_cast<int>(config.classes.size()), H = config.output_height, W = config.output_width;
  const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
  std::fill(cov, cov + static_cast<size_t>(C) * plane, 0.f);
  std::fill(bbox, bbox + static_cast<size_t>(C) * 4 * plane, 0.f);
  std::fill(cov_norm, cov_norm + static_cast<size_t>(C) * plane, 0.f);
  std::stable_sort(boxes.begin(), boxes.end(),
                   [](const TargetBox& a, const TargetBox& b) { return a.box.y2 < b.box.y2; });
  const float sx = config.stride_x(), sy = config.stride_y();
  for (const TargetBox& t : boxes) {
    if (t.class_id < 0 || t.class_id >= C)
      throw Error(log::cat("rasterizer: class id ", t.class_id, " outside [0, ", C, ")"));
    const Box& px = t.box;
    const Box out{px.x1 / sx, px.y1 / sy, px.x2 / sx, px.y2 / sy};
    const Ellipse e = ellipse_of(out, config.classes[static_cast<size_t>(t.class_id)], config.deadzone_radius);
    const float inv_area = 1.f / std::max(4.f * e.csx * e.csy, 1.f);
    const int i0 = std::max(0, static_cast<int>(std::floor(e.cy - e.dsy - 0.5f)));
    const int i1 = std::min(H - 1, static_cast<int>(std::ceil(e.cy + e.dsy - 0.5f)));
    const int j0 = std::max(0, static_cast<int>(std::floor(e.cx - e.dsx - 0.5f)));
    const int j1 = std::min(W - 1, static_cast<int>(std::ceil(e.cx + e.dsx - 0.5f)));
    float* cov_c = cov + static_cast<size_t>(t.class_id) * plane;
    float* norm_c = cov_norm + static_cast<size_t>(t.class_id) * plane;
    float* bbox_c = bbox + static_cast<size_t>(t.class_id) * 4 * plane;
    for (int i = i0; i <= i1; ++i) {
      const float py = static_cast<float>(i) + 0.5f;
      for (int j = j0; j <= j1; ++j) {
        const float pxo = static_cast<float>(j) + 0.5f;
        const float du = (pxo - e.cx) / e.dsx, dv = (py - e.cy) / e.dsy;
        if (du * du + dv * dv > 1.f) continue;  // outside the dead zone: untouched
        const size_t k = static_cast<size_t>(i) * static_cast<size_t>(W) + static_cast<size_t>(j);
        const float cu = (pxo - e.cx) / e.csx, cv = (py - e.cy) / e.csy;
        const bool inside = cu * cu + cv * cv <= 1.f;
        cov_c[k] = inside ? 1.f : 0.f;
        norm_c[k] = inside ? inv_area : 0.f;
        const float ax = sx * static_cast<float>(j) + config.bbox_offset;
        const float ay = sy * static_cast<float>(i) + config.bbox_offset;
        const float s = config.bbox_scale;
        bbox_c[0 * plane + k] = inside ? (ax - px.x1) / s : 0.f;
        bbox_c[1 * plane + k] = inside ? (ay - px.y1) / s : 0.f;
        bbox_c[2 * plane + k] = inside ? (px.x2 - ax) / s : 0.f;
        bbox_c[3 * plane + k] = inside ? (px.y2 - ay) / s : 0.f;
      }
    }
  }
}

Box decode_cell(const RasterizerConfig& config, int i, int j, float l, float t, float r, float b) {
  const float ax = config.stride_x() * static_cast<float>(j) + config.bbox_offset;
  const float ay = config.stride_y() * static_cast<float>(i) + config.bbox_offset;
  const float s = config.bbox_scale;
  const float w = static_cast<float>(config.input_width), h = static_cast<float>(config.input_height);
  Box box;
  box.x1 = std::clamp(ax - l * s, 0.f, w);
  box.y1 = std::clamp(ay - t * s, 0.f, h);
  box.x2 = std::clamp(ax + r * s, box.x1, w);
  box.y2 = std::clamp(ay + b * s, box.y1, h);
  return box;
}

}  // namespace kiln::detection
