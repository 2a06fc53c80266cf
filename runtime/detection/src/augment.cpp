// Detection sample preparation (augment.h).
#include "kiln/detection/augment.h"

#include <algorithm>
#include <cmath>

#include "rng.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"

namespace kiln::detection {

void AugmentConfig::validate() const {
  const auto bad = [](const char* key, double v, const char* want) {
    throw UsageError(log::cat("augmentation_config.", key, " is ", v, "; it must be ", want));
  };
  const Preprocessing& p = preprocessing;
  if (p.output_width <= 0) bad("preprocessing.output_image_width", p.output_width, "> 0");
  if (p.output_height <= 0) bad("preprocessing.output_image_height", p.output_height, "> 0");
  if (p.output_channels != 1 && p.output_channels != 3)
    bad("preprocessing.output_image_channel", p.output_channels, "1 or 3");
  if (!(p.min_bbox_width >= 0)) bad("preprocessing.min_bbox_width", p.min_bbox_width, ">= 0");
  if (!(p.min_bbox_height >= 0)) bad("preprocessing.min_bbox_height", p.min_bbox_height, ">= 0");
  const SpatialAugmentation& s = spatial;
  if (!(s.hflip_probability >= 0 && s.hflip_probability <= 1))
    bad("spatial_augmentation.hflip_probability", s.hflip_probability, "in [0, 1]");
  if (!(s.vflip_probability >= 0 && s.vflip_probability <= 1))
    bad("spatial_augmentation.vflip_probability", s.vflip_probability, "in [0, 1]");
  if (!(s.zoom_min > 0)) bad("spatial_augmentation.zoom_min", s.zoom_min, "> 0");
  if (!(s.zoom_max >= s.zoom_min)) bad("spatial_augmentation.zoom_max", s.zoom_max, ">= zoom_min");
  if (!(s.translate_max_x >= 0)) bad("spatial_augmentation.translate_max_x", s.translate_max_x, ">= 0");
  if (!(s.translate_max_y >= 0)) bad("spatial_augmentation.translate_max_y", s.translate_max_y, ">= 0");
  const ColorAugmentation& c = color;
  if (!(c.color_shift_stddev >= 0)) bad("color_augmentation.color_shift_stddev", c.color_shift_stddev, ">= 0");
  if (!(c.hue_rotation_max >= 0 && c.hue_rotation_max <= 180))
    bad("color_augmentation.hue_rotation_max", c.hue_rotation_max, "in [0, 180]");
  if (!(c.saturation_shift_max >= 0 && c.saturation_shift_max <= 1))
    bad("color_augmentation.saturation_shift_max", c.saturation_shift_max, "in [0, 1]");
  if (!(c.contrast_scale_max >= 0 && c.contrast_scale_max <= 1))
    bad("color_augmentation.contrast_scale_max", c.contrast_scale_max, "in [0, 1]");
}

float SampleTransform::map_x(float x) const {
  const float cx = 0.5f * static_cast<float>(out_width);
  const float q = (x * resize_x - cx) * zoom + cx + shift_x;
  return hflip ? static_cast<float>(out_width) - q : q;
}

float SampleTransform::map_y(float y) const {
  const float cy = 0.5f * static_cast<float>(out_height);
  const float q = (y * resize_y - cy) * zoom + cy + shift_y;
  return vflip ? static_cast<float>(out_height) - q : q;
}

SampleTransform draw_transform(const AugmentConfig& config, int src_w, int src_h, uint64_t key, bool train) {
  const Preprocessing& p = config.preprocessing;
  SampleTransform t;
  t.out_width = p.output_width, t.out_height = p.output_height;
  t.resize_x = static_cast<float>(p.output_width) / static_cast<float>(src_w);
  t.resize_y = static_cast<float>(p.output_height) / static_cast<float>(src_h);
  if (!train) return t;
  detail::Rng rng(key);
  const SpatialAugmentation& s = config.spatial;
  t.zoom = static_cast<float>(rng.uniform(s.zoom_min, s.zoom_max));
  t.shift_x = static_cast<float>(rng.uniform(-s.translate_max_x, s.translate_max_x));
  t.shift_y = static_cast<float>(rng.uniform(-s.translate_max_y, s.translate_max_y));
  t.hflip = rng.uniform() < s.hflip_probability;
  t.vflip = rng.uniform() < s.vflip_probability;
  return t;
}

void warp_image(const uint8_t* src, int src_w, int src_h, int channels, const SampleTransform& t, float* out) {
  const int W = t.out_width, H = t.out_height;
  const size_t plane = static_cast<size_t>(W) * static_cast<size_t>(H);
  const float cx = 0.5f * static_cast<float>(W), cy = 0.5f * static_cast<float>(H);
  for (int y = 0; y < H; ++y) {
    // Inverse of map_y at the output pixel's centre, then to the source pixel grid (centres at integer + 0.5).
    float qy = static_cast<float>(y) + 0.5f;
    if (t.vflip) qy = static_cast<float>(H) - qy;
    const float sy = ((qy - t.shift_y - cy) / t.zoom + cy) / t.resize_y - 0.5f;
    const int y0 = static_cast<int>(std::floor(sy));
    const float fy = sy - static_cast<float>(y0);
    for (int x = 0; x < W; ++x) {
      float qx = static_cast<float>(x) + 0.5f;
      if (t.hflip) qx = static_cast<float>(W) - qx;
      const float sx = ((qx - t.shift_x - cx) / t.zoom + cx) / t.resize_x - 0.5f;
      const int x0 = static_cast<int>(std::floor(sx));
      const float fx = sx - static_cast<float>(x0);
      for (int c = 0; c < channels; ++c) {
        auto at = [&](int yy, int xx) -> float {
          if (xx < 0 || yy < 0 || xx >= src_w || yy >= src_h) return 0.f;
          return static_cast<float>(src[(static_cast<size_t>(yy) * static_cast<size_t>(src_w) +
                                         static_cast<size_t>(xx)) * static_cast<size_t>(channels) +
                                        static_cast<size_t>(c)]);
        };
        const float v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                        fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        out[static_cast<size_t>(c) * plane + static_cast<size_t>(y) * static_cast<size_t>(W) +
            static_cast<size_t>(x)] = v / 255.f;
      }
    }
  }
}

std::vector<TargetBox> transform_boxes(const std::vector<TargetBox>& boxes, const SampleTransform& t,
                                       const Preprocessing& p) {
  std::vector<TargetBox> out;
  const float W = static_cast<float>(t.out_width), H = static_cast<float>(t.out_height);
  for (const TargetBox& b : boxes) {
    const float xa = t.map_x(b.box.x1), xb = t.map_x(b.box.x2), ya = t.map_y(b.box.y1), yb = t.map_y(b.box.y2);
    Box nb{std::clamp(std::min(xa, xb), 0.f, W), std::clamp(std::min(ya, yb), 0.f, H),
           std::clamp(std::max(xa, xb), 0.f, W), std::clamp(std::max(ya, yb), 0.f, H)};
    if (nb.width() < std::max(p.min_bbox_width, 1e-3f) || nb.height() < std::max(p.min_bbox_height, 1e-3f)) continue;
    out.push_back({nb, b.class_id});
  }
  return out;
}

namespace {

// TAO's colour transforms on CHW [0, 1] RGB: a hue rotation about the grey axis, a saturation scale (towards or away
// from each pixel's grey), a contrast scale about contrast_center and a per-channel shift; results clipped to [0, 1].
void color_jitter(float* img, size_t plane, const ColorAugmentation& c, detail::Rng& rng) {
  const float pi = 3.14159265358979f;
  const float hue = static_cast<float>(rng.uniform(-c.hue_rotation_max, c.hue_rotation_max)) * pi / 180.f;
  const float sat = 1.f + static_cast<float>(rng.uniform(-c.saturation_shift_max, c.saturation_shift_max));
  const float con = 1.f + static_cast<float>(rng.uniform(-c.contrast_scale_max, c.contrast_scale_max));
  float shift[3];
  for (float& s : shift) s = c.color_shift_stddev * rng.gauss();
  // Rotation by `hue` about (1,1,1)/√3 (Rodrigues), then saturation: grey + sat·(rgb − grey).
  const float cosh = std::cos(hue), sinh = std::sin(hue), k = (1.f - cosh) / 3.f, s3 = sinh / std::sqrt(3.f);
  const float R[3][3] = {{cosh + k, k - s3, k + s3}, {k + s3, cosh + k, k - s3}, {k - s3, k + s3, cosh + k}};
  for (size_t i = 0; i < plane; ++i) {
    const float rgb[3] = {img[i], img[plane + i], img[2 * plane + i]};
    float o[3];
    for (int r = 0; r < 3; ++r) o[r] = R[r][0] * rgb[0] + R[r][1] * rgb[1] + R[r][2] * rgb[2];
    const float grey = (o[0] + o[1] + o[2]) / 3.f;
    for (int r = 0; r < 3; ++r) {
      float v = grey + sat * (o[r] - grey);
      v = (v - c.contrast_center) * con + c.contrast_center + shift[r];
      img[static_cast<size_t>(r) * plane + i] = std::clamp(v, 0.f, 1.f);
    }
  }
}

}  // namespace

PreparedSample prepare_sample(const DetectionRecord& record, const std::vector<int>& class_map,
                              const AugmentConfig& config, uint64_t key, bool train) {
  const int channels = config.preprocessing.output_channels;
  ImageInfo info;
  const std::vector<uint8_t> pixels = decode_image(record.image, record.name, channels, &info);
  PreparedSample s;
  s.transform = draw_transform(config, info.width, info.height, key, train);
  s.image.assign(static_cast<size_t>(channels) * static_cast<size_t>(s.transform.out_width) *
                     static_cast<size_t>(s.transform.out_height),
                 0.f);
  warp_image(pixels.data(), info.width, info.height, channels, s.transform, s.image.data());
  if (train && channels == 3) {
    detail::Rng rng(bytes::mix64(key ^ 0xC0105ull));
    color_jitter(s.image.data(), s.image.size() / 3, config.color, rng);
  }
  std::vector<TargetBox> boxes;
  for (const ShardObject& o : record.objects) {
    if (o.class_id < 0 || static_cast<size_t>(o.class_id) >= class_map.size())
      throw DataError(log::cat(record.name, ": object class id ", o.class_id, " outside the shard's classes"));
    const int target = class_map[static_cast<size_t>(o.class_id)];
    if (target >= 0) boxes.push_back({o.box, target});
  }
  s.boxes = transform_boxes(boxes, s.transform, config.preprocessing);
  return s;
}

}  // namespace kiln::detection
