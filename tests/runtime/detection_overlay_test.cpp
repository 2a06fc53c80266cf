// What detectnet_v2 inference writes and draws (runtime/include/kiln/runtime/detection_overlay.h), and that its spec
// loads without the training data (kiln/runtime/detectnet_config.h).
#include "kiln/runtime/detection_overlay.h"

#include <gtest/gtest.h>

#include "kiln/runtime/detectnet_config.h"
#include "kiln/specs/detectnet_v2.h"

namespace kr = kiln::runtime;
namespace kd = kiln::detection;

namespace {

const std::string kSample = std::string(KILN_SOURCE_DIR) + "/specs/samples/detectnet_v2_synth.yaml";

// The sample spec names shards under data/ that a fresh checkout does not have: inference must not need them.
kiln::specs::Spec inference_spec(std::vector<std::string> overrides) {
  overrides.push_back("dataset_config.validation_data_source.shards=/nonexistent/kiln/val");
  return kiln::specs::load_spec(kr::detectnet_schema_without_path_checks(), kSample, overrides);
}

kr::Rgb pixel(const kr::RgbImage& img, int x, int y) {
  const uint8_t* p = img.pixels.data() + (static_cast<size_t>(y) * img.width + x) * 3;
  return {p[0], p[1], p[2]};
}

kd::KittiObject object(const std::string& type, float x1, float y1, float x2, float y2, float score) {
  kd::KittiObject o;
  o.type = type;
  o.box = {x1, y1, x2, y2};
  o.score = score;
  return o;
}

}  // namespace

TEST(DetectionOverlay, TheSpecLoadsWithoutItsDataAndGivesThresholdsPerClass) {
  EXPECT_THROW(kiln::specs::load_spec(kiln::specs::detectnet_v2_schema(), kSample,
                                      {"dataset_config.validation_data_source.shards=/nonexistent/kiln/val"}),
               kiln::specs::SpecError)
      << "training needs its data";
  const auto spec = inference_spec({"bbox_handler_config.confidence_threshold=0.4",
                                    "bbox_handler_config.overlay_linewidth=3",
                                    "bbox_handler_config.classwise_bbox_handler_config=[{key: bag, value: "
                                    "{confidence_threshold: 0.9, bbox_color: {G: 255}}}]"});
  const kr::DetectnetConfig cfg = kr::DetectnetConfig::from_spec(spec);
  const kr::DetectionOutputs o = kr::DetectionOutputs::from_spec(spec, cfg.classes);
  ASSERT_EQ(o.draw_threshold.size(), 10u);
  EXPECT_TRUE(o.labels);
  EXPECT_TRUE(o.drawings);
  EXPECT_EQ(o.line_width, 3);
  EXPECT_FLOAT_EQ(o.draw_threshold[0], 0.4f);  // t_shirt: the group's threshold
  EXPECT_FLOAT_EQ(o.draw_threshold[8], 0.9f);  // bag: its own
  EXPECT_EQ(o.colour[8], (kr::Rgb{0, 255, 0}));  // R and B not given: 0, as TAO's proto3 message
  EXPECT_NE(o.colour[0], o.colour[1]);

  const auto unknown = [] {
    inference_spec({"bbox_handler_config.classwise_bbox_handler_config=[{key: car, value: {confidence_threshold: 1}}]"});
  };
  EXPECT_THROW(unknown(), kiln::specs::SpecError) << "a class the detector does not have is named";
}

TEST(DetectionOverlay, OnlyBoxesAtTheThresholdAreDrawnOnAnEnlargedImage) {
  kr::DetectionOutputs o;
  o.draw_threshold = {0.5f, 0.5f};
  o.colour = {kr::Rgb{255, 0, 0}, kr::Rgb{0, 0, 255}};
  o.line_width = 2;
  kr::RgbImage img{160, 160, std::vector<uint8_t>(160 * 160 * 3, 10)};
  const std::vector<kd::KittiObject> objects = {object("coat", 20, 60, 60, 100, 0.8f),
                                                object("bag", 100, 100, 140, 140, 0.49f)};
  const kr::RgbImage drawn = kr::draw_detections(img, objects, {0, 1}, o);
  ASSERT_EQ(kr::overlay_upscale(160, 160), 3);
  ASSERT_EQ(drawn.width, 480);
  ASSERT_EQ(drawn.height, 480);
  // The confident coat: its outline at 3x (x from 60 to 180), below its label.
  EXPECT_EQ(pixel(drawn, 100, 299), (kr::Rgb{255, 0, 0})) << "bottom edge";
  EXPECT_EQ(pixel(drawn, 60, 250), (kr::Rgb{255, 0, 0})) << "left edge";
  EXPECT_EQ(pixel(drawn, 120, 250), (kr::Rgb{10, 10, 10})) << "the object itself is not covered";
  // The label fits the picture: 16 rows (one font pixel per image pixel), a small part of the image.
  EXPECT_NE(pixel(drawn, 62, 180 - 8), (kr::Rgb{10, 10, 10}));
  EXPECT_EQ(pixel(drawn, 62, 180 - 17), (kr::Rgb{10, 10, 10}));
  // The bag below the threshold is not drawn at all.
  for (int x = 300; x < 420; ++x) EXPECT_EQ(pixel(drawn, x, 300), (kr::Rgb{10, 10, 10})) << x;

  o.draw_threshold[1] = 0.4f;
  EXPECT_EQ(pixel(kr::draw_detections(img, objects, {0, 1}, o), 350, 300), (kr::Rgb{0, 0, 255}));
}
