// DetectionOutputs and the drawings of `detectnet_v2 inference` (detection_overlay.h).
#include "kiln/runtime/detection_overlay.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "kiln/common/log.h"

namespace kiln::runtime {
namespace {

// Ten colours that read on most backgrounds, one per class (cycled).
constexpr Rgb kClassPalette[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
                                 {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212}};

constexpr int kOverlayLongSide = 480;  // small images are enlarged up to this many pixels on the longer side

uint8_t component(const specs::Spec& s, const std::string& key) {
  return s.has(key) ? static_cast<uint8_t>(s.get_int(key)) : 0;
}

}  // namespace

DetectionOutputs DetectionOutputs::from_spec(const specs::Spec& s, const std::vector<std::string>& classes) {
  const std::string g = "bbox_handler_config.";
  DetectionOutputs o;
  o.labels = s.get_bool(g + "kitti_dump");
  o.drawings = !s.get_bool(g + "disable_overlay");
  o.line_width = static_cast<int>(s.get_int(g + "overlay_linewidth"));
  const float threshold = static_cast<float>(s.get_float(g + "confidence_threshold"));
  for (size_t c = 0; c < classes.size(); ++c) {
    o.draw_threshold.push_back(threshold);
    o.colour.push_back(kClassPalette[c % std::size(kClassPalette)]);
  }
  const std::string list = g + "classwise_bbox_handler_config";
  for (size_t i = 0; i < s.count(list); ++i) {
    const std::string item = log::cat(list, "[", i, "]");
    const auto it = std::find(classes.begin(), classes.end(), s.get_string(item + ".key"));
    if (it == classes.end()) continue;  // the spec's rules already named it
    const size_t c = static_cast<size_t>(it - classes.begin());
    const std::string v = item + ".value.";
    if (s.has(v + "confidence_threshold")) o.draw_threshold[c] = static_cast<float>(s.get_float(v + "confidence_threshold"));
    if (s.has(v + "bbox_color.R") || s.has(v + "bbox_color.G") || s.has(v + "bbox_color.B"))
      o.colour[c] = {component(s, v + "bbox_color.R"), component(s, v + "bbox_color.G"),
                     component(s, v + "bbox_color.B")};
  }
  return o;
}

int overlay_upscale(int height, int width) {
  return std::clamp(kOverlayLongSide / std::max({height, width, 1}), 1, 4);
}

RgbImage draw_detections(const RgbImage& image, const std::vector<detection::KittiObject>& objects,
                         const std::vector<int>& class_ids, const DetectionOutputs& outputs) {
  const int k = overlay_upscale(image.height, image.width);
  RgbImage out = upscale_nearest(image, k);
  const int font_scale = 1 + std::max(out.width, out.height) / 1280;
  std::vector<size_t> order(objects.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return objects[a].score < objects[b].score; });
  for (size_t i : order) {
    const auto c = static_cast<size_t>(class_ids[i]);
    const detection::KittiObject& o = objects[i];
    if (!outputs.drawn(class_ids[i], o.score)) continue;
    char caption[96];
    std::snprintf(caption, sizeof caption, "%s %.2f", o.type.c_str(), static_cast<double>(o.score));
    draw_box(out, static_cast<int>(o.box.x1 * k), static_cast<int>(o.box.y1 * k), static_cast<int>(o.box.x2 * k + 0.5f),
             static_cast<int>(o.box.y2 * k + 0.5f), outputs.colour[c], caption, outputs.line_width, font_scale);
  }
  return out;
}

}  // namespace kiln::runtime
