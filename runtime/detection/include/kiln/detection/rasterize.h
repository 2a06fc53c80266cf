// DetectNet_v2 training targets (docs/detection.md): each ground-truth box is drawn into per-class grids at the
// network's output resolution, as TAO's bbox rasterizer does:
//  - coverage: 1 inside an ellipse centred at (cov_center_x, cov_center_y) of the box, whose radii are
//    cov_radius_{x,y} × the distance from that centre to the nearer box edge (in output cells, at least 0.1), grown
//    with the aspect kept until the smaller radius is at least bbox_min_radius;
//  - a dead zone around it — an ellipse interpolated between the coverage ellipse (deadzone_radius 0) and the box's own
//    half-extent (1) — where the box claims the cells with coverage 0, so overlapping objects stay apart;
//  - bbox: in the coverage cells, the distances from the cell's anchor (cx, cy) = (stride_x·j + offset,
//    stride_y·i + offset) input pixels to the box's left, top, right and bottom edges, divided by `scale`
//    (TAO's objective_set bbox {scale: 35.0 offset: 0.5});
//  - cov_norm: coverage / max(4·rx·ry, 1), the per-cell weight of the bbox loss (small objects count as much as big).
// Boxes are drawn in ascending order of their bottom edge (a depth order: nearer objects, lower in the image, win).
// A cell (i, j) is inside an ellipse when its centre (j + 0.5, i + 0.5) in output coordinates is.
#pragma once
#include <vector>

#include "kiln/detection/kitti.h"

namespace kiln::detection {

// bbox_rasterizer_config.target_class_config (TAO's defaults).
struct RasterClassConfig {
  float cov_center_x = 0.5f, cov_center_y = 0.5f;
  float cov_radius_x = 0.4f, cov_radius_y = 0.4f;
  float bbox_min_radius = 1.0f;
};

struct RasterizerConfig {
  int input_width = 0, input_height = 0;    // network input, pixels
  int output_width = 0, output_height = 0;  // grid cells (input / stride)
  std::vector<RasterClassConfig> classes;   // one per target class, in output channel order
  float deadzone_radius = 0.67f;            // bbox_rasterizer_config.deadzone_radius, in [0, 1]
  float bbox_scale = 35.0f;                 // model_config.objective_set.bbox.scale
  float bbox_offset = 0.5f;                 // model_config.objective_set.bbox.offset (input pixels)

  float stride_x() const { return static_cast<float>(input_width) / static_cast<float>(output_width); }
  float stride_y() const { return static_cast<float>(input_height) / static_cast<float>(output_height); }
  // Checks sizes and ranges; UsageError naming the bad value.
  void validate() const;
};

struct TargetBox {
  Box box;  // input pixels
  int class_id = 0;
};

// One image's targets, channel-major like the network's outputs (C = classes.size(), H/W = output size):
// cov [C][H][W], bbox [C][4][H][W] (L, T, R, B), cov_norm [C][H][W]. Buffers are overwritten (zeros first).
void rasterize(const RasterizerConfig& config, std::vector<TargetBox> boxes, float* cov, float* bbox,
               float* cov_norm);

// The inverse of the bbox encoding for one cell: the box in input pixels that the four predicted distances of cell
// (i, j) describe, clipped to the image (x2 >= x1, y2 >= y1), as TAO's predictions_to_absolute.
Box decode_cell(const RasterizerConfig& config, int i, int j, float l, float t, float r, float b);

}  // namespace kiln::detection
