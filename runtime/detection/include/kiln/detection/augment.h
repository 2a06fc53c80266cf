// One detection training sample, prepared as TAO's DetectNet_v2 dataloader does (augmentation_config): the image is
// resized to preprocessing.output_image_width × output_image_height, then (training only) zoomed about the centre by
// a factor in [zoom_min, zoom_max], shifted by up to ±translate_max_{x,y} pixels and flipped with
// h/vflip_probability — one inverse-mapped bilinear warp, pixels outside the source are 0 — with colour jitter on
// 3-channel images. Boxes go through the same transform, are clipped to the image and dropped when what is left is
// narrower than min_bbox_width or lower than min_bbox_height. All random choices derive from one 64-bit key, so a
// sample is the same whichever thread prepares it.
#pragma once
#include <cstdint>
#include <vector>

#include "kiln/detection/image_io.h"
#include "kiln/detection/rasterize.h"
#include "kiln/detection/shards.h"

namespace kiln::detection {

struct Preprocessing {
  int output_width = 0, output_height = 0;
  int output_channels = 3;  // 1 or 3
  float min_bbox_width = 1.f, min_bbox_height = 1.f;
};

struct SpatialAugmentation {
  float hflip_probability = 0.5f, vflip_probability = 0.f;
  float zoom_min = 1.f, zoom_max = 1.f;
  float translate_max_x = 8.f, translate_max_y = 8.f;
};

struct ColorAugmentation {  // applied to 3-channel images only (TAO: colour transforms need RGB)
  float color_shift_stddev = 0.f;    // per-channel additive shift, N(0, stddev), on [0, 1] pixels
  float hue_rotation_max = 25.f;     // degrees, uniform in ±max, a rotation about the grey axis
  float saturation_shift_max = 0.2f;  // saturation scaled by 1 ± uniform(max)
  float contrast_scale_max = 0.1f;    // contrast scaled by 1 ± uniform(max) about contrast_center
  float contrast_center = 0.5f;
};

struct AugmentConfig {
  Preprocessing preprocessing;
  SpatialAugmentation spatial;
  ColorAugmentation color;
  // Throws UsageError naming the TAO key (augmentation_config....) that is out of range.
  void validate() const;
};

// The geometric part of a sample: output pixel coordinates q from source pixel coordinates p:
// q = flip((p · resize − centre) · zoom + centre + shift).
struct SampleTransform {
  float resize_x = 1, resize_y = 1, zoom = 1, shift_x = 0, shift_y = 0;
  bool hflip = false, vflip = false;
  int out_width = 0, out_height = 0;
  float map_x(float x) const;
  float map_y(float y) const;
};

// The transform for one sample of a src_w × src_h image; `train` false gives the plain resize (evaluation).
SampleTransform draw_transform(const AugmentConfig& config, int src_w, int src_h, uint64_t key, bool train);

struct PreparedSample {
  std::vector<float> image;  // CHW, [0, 1], output_channels × output_height × output_width
  std::vector<TargetBox> boxes;  // output pixels, after clipping and the minimum-size filter
  SampleTransform transform;
};

// Decodes `record` and prepares it. `class_map` maps the shard's class ids to training class ids (-1: not a
// training class: the object is left out). DataError naming the record's image when it does not decode.
PreparedSample prepare_sample(const DetectionRecord& record, const std::vector<int>& class_map,
                              const AugmentConfig& config, uint64_t key, bool train);

// The geometric steps alone, for tests and inference: warp HWC uint8 pixels (`channels` 1 or 3) into CHW floats.
void warp_image(const uint8_t* src, int src_w, int src_h, int channels, const SampleTransform& t, float* out);
std::vector<TargetBox> transform_boxes(const std::vector<TargetBox>& boxes, const SampleTransform& t,
                                       const Preprocessing& p);

}  // namespace kiln::detection
