// What `detectnet_v2 inference` writes per image (bbox_handler_config): KITTI label lines for every clustered box
// and a drawing of only the boxes a user would act on (a confidence threshold per class), with labels sized for
// the picture.
#pragma once
#include <string>
#include <vector>

#include "kiln/detection/kitti.h"
#include "kiln/runtime/annotate.h"
#include "kiln/specs/spec.h"

namespace kiln::runtime {

struct DetectionOutputs {
  bool labels = true;    // kitti_dump: labels/<image>.txt
  bool drawings = true;  // !disable_overlay: images_annotated/<image>.png
  int line_width = 2;    // overlay_linewidth, in pixels of the drawn image
  std::vector<float> draw_threshold;  // per class: boxes drawn need at least this confidence
  std::vector<Rgb> colour;            // per class

  // Whether a box of `class_id` with `confidence` is drawn: at least its class's threshold.
  bool drawn(int class_id, float confidence) const {
    return confidence >= draw_threshold[static_cast<size_t>(class_id)];
  }

  // From the spec's bbox_handler_config; classes not listed use its threshold and kiln's palette.
  static DetectionOutputs from_spec(const specs::Spec& spec, const std::vector<std::string>& classes);
};

// The drawing's pixels per image pixel: small images are enlarged (nearest) so that labels leave the objects
// visible — 480 pixels on the longer side at most, factor 1 to 4.
int overlay_upscale(int height, int width);

// `image` enlarged by overlay_upscale() with the boxes of `objects` (image pixels; score = confidence) whose
// confidence reaches their class's threshold, each outlined in its class colour with "<class> <confidence>" on a
// small label. Boxes are drawn from the least to the most confident, so the surest end up on top.
RgbImage draw_detections(const RgbImage& image, const std::vector<detection::KittiObject>& objects,
                         const std::vector<int>& class_ids, const DetectionOutputs& outputs);

}  // namespace kiln::runtime
