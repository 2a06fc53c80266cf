// Detection sample preparation: the image warp and the box transform agree, and augmentation stays in its ranges
// (runtime/include/kiln/detection/augment.h).
#include "kiln/detection/augment.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kiln/common/error.h"

#include "kiln/common/third_party_begin.h"
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include "kiln/common/third_party_end.h"

namespace kd = kiln::detection;

namespace {

// W×H grey image, black with a white rectangle [x0, x1) × [y0, y1).
std::vector<uint8_t> rect_image(int W, int H, int x0, int y0, int x1, int y1) {
  std::vector<uint8_t> px(static_cast<size_t>(W * H), 0);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) px[static_cast<size_t>(y * W + x)] = 255;
  return px;
}

kd::AugmentConfig config(int W, int H) {
  kd::AugmentConfig c;
  c.preprocessing.output_width = W;
  c.preprocessing.output_height = H;
  c.preprocessing.output_channels = 1;
  return c;
}

}  // namespace

TEST(Augment, EvaluationTransformIsThePlainResize) {
  const auto c = config(32, 16);
  const kd::SampleTransform same = kd::draw_transform(c, 32, 16, 99, /*train=*/false);
  const auto px = rect_image(32, 16, 4, 3, 10, 9);
  std::vector<float> out(32 * 16);
  kd::warp_image(px.data(), 32, 16, 1, same, out.data());
  for (size_t i = 0; i < out.size(); ++i) ASSERT_FLOAT_EQ(out[i], px[i] / 255.f) << i;  // exact at pixel centres
  const auto boxes = kd::transform_boxes({{{4, 3, 10, 9}, 1}}, same, c.preprocessing);
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_FLOAT_EQ(boxes[0].box.x1, 4.f);
  EXPECT_FLOAT_EQ(boxes[0].box.y2, 9.f);
  EXPECT_EQ(boxes[0].class_id, 1);

  const kd::SampleTransform twice = kd::draw_transform(c, 16, 8, 99, false);  // a 16×8 source: ×2
  const auto b2 = kd::transform_boxes({{{2, 1, 5, 4}, 0}}, twice, c.preprocessing);
  EXPECT_FLOAT_EQ(b2[0].box.x1, 4.f);
  EXPECT_FLOAT_EQ(b2[0].box.y1, 2.f);
  EXPECT_FLOAT_EQ(b2[0].box.x2, 10.f);
  EXPECT_FLOAT_EQ(b2[0].box.y2, 8.f);
}

TEST(Augment, HorizontalFlipMirrorsPixelsAndBoxes) {
  const auto c = config(20, 10);
  kd::SampleTransform t = kd::draw_transform(c, 20, 10, 0, false);
  t.hflip = true;
  const auto px = rect_image(20, 10, 2, 1, 7, 4);
  std::vector<float> out(200);
  kd::warp_image(px.data(), 20, 10, 1, t, out.data());
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 20; ++x)
      ASSERT_FLOAT_EQ(out[static_cast<size_t>(y * 20 + x)], px[static_cast<size_t>(y * 20 + 19 - x)] / 255.f);
  const auto b = kd::transform_boxes({{{2, 1, 7, 4}, 0}}, t, c.preprocessing);
  EXPECT_FLOAT_EQ(b[0].box.x1, 13.f);
  EXPECT_FLOAT_EQ(b[0].box.x2, 18.f);
  EXPECT_FLOAT_EQ(b[0].box.y1, 1.f);
}

// With zoom, shift and flips at random, the box still bounds the white rectangle in the warped image.
TEST(Augment, WarpedImageAndTransformedBoxAgree) {
  auto c = config(64, 48);
  c.spatial = {0.5f, 0.5f, 0.8f, 1.3f, 10.f, 6.f};
  const auto px = rect_image(64, 48, 20, 12, 44, 30);
  int flips = 0;
  for (uint64_t key = 1; key <= 40; ++key) {
    const kd::SampleTransform t = kd::draw_transform(c, 64, 48, key, true);
    EXPECT_GE(t.zoom, 0.8f);
    EXPECT_LE(t.zoom, 1.3f);
    EXPECT_LE(std::abs(t.shift_x), 10.f);
    EXPECT_LE(std::abs(t.shift_y), 6.f);
    flips += t.hflip;
    std::vector<float> out(64 * 48);
    kd::warp_image(px.data(), 64, 48, 1, t, out.data());
    const auto b = kd::transform_boxes({{{20, 12, 44, 30}, 0}}, t, c.preprocessing);
    ASSERT_EQ(b.size(), 1u) << key;
    for (int y = 0; y < 48; ++y)
      for (int x = 0; x < 64; ++x) {
        const float v = out[static_cast<size_t>(y * 64 + x)];
        const float cx = static_cast<float>(x) + 0.5f, cy = static_cast<float>(y) + 0.5f;
        const bool inside = cx > b[0].box.x1 && cx < b[0].box.x2 && cy > b[0].box.y1 && cy < b[0].box.y2;
        const bool deep = cx > b[0].box.x1 + 1 && cx < b[0].box.x2 - 1 && cy > b[0].box.y1 + 1 && cy < b[0].box.y2 - 1;
        if (!inside) {
          ASSERT_LT(v, 0.5f) << "key " << key << " at " << x << "," << y;
        }
        if (deep) {
          ASSERT_GT(v, 0.5f) << "key " << key << " at " << x << "," << y;
        }
      }
  }
  EXPECT_GT(flips, 5);  // probability 0.5 over 40 keys
  EXPECT_LT(flips, 35);
  const auto a = kd::draw_transform(c, 64, 48, 7, true), b = kd::draw_transform(c, 64, 48, 7, true);
  EXPECT_EQ(a.zoom, b.zoom);  // a key always gives the same sample
  EXPECT_EQ(a.shift_x, b.shift_x);
}

TEST(Augment, BoxesAreClippedAndSmallRemaindersDropped) {
  auto c = config(40, 40);
  c.preprocessing.min_bbox_width = 4;
  c.preprocessing.min_bbox_height = 4;
  kd::SampleTransform t = kd::draw_transform(c, 40, 40, 0, false);
  t.shift_x = 12;  // everything moves 12 px right
  const auto b = kd::transform_boxes({{{20, 5, 36, 20}, 0}, {{30, 5, 39, 20}, 1}, {{1, 1, 3, 30}, 2}}, t,
                                     c.preprocessing);
  ASSERT_EQ(b.size(), 1u);  // box 1 keeps 40 − 42 < 0 px, box 2 is 2 px wide
  EXPECT_FLOAT_EQ(b[0].box.x1, 32.f);
  EXPECT_FLOAT_EQ(b[0].box.x2, 40.f);  // clipped at the right edge
}

TEST(Augment, PrepareSampleDecodesMapsClassesAndJittersColour) {
  // A 24×16 RGB PNG, mid-grey with a red block.
  std::vector<uint8_t> rgb(24 * 16 * 3, 128);
  for (int y = 2; y < 8; ++y)
    for (int x = 3; x < 12; ++x) rgb[static_cast<size_t>((y * 24 + x) * 3)] = 250;
  std::string png;
  stbi_write_png_to_func([](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(
                             static_cast<const char*>(data), static_cast<size_t>(size)); },
                         &png, 24, 16, 3, rgb.data(), 24 * 3);
  kd::DetectionRecord r;
  r.name = "images/a.png";
  r.image = png;
  r.width = 24, r.height = 16, r.channels = 3;
  r.objects = {{0, {3, 2, 12, 8}, 0, 0}, {1, {0, 0, 5, 5}, 0, 0}};
  auto c = config(48, 32);
  c.preprocessing.output_channels = 3;
  const kd::PreparedSample eval = kd::prepare_sample(r, {2, -1}, c, 5, false);
  ASSERT_EQ(eval.image.size(), 3u * 48 * 32);
  ASSERT_EQ(eval.boxes.size(), 1u);  // class 1 is not a training class
  EXPECT_EQ(eval.boxes[0].class_id, 2);
  EXPECT_FLOAT_EQ(eval.boxes[0].box.x2, 24.f);
  EXPECT_NEAR(eval.image[10 * 48 + 40], 128 / 255.f, 1e-6);  // red channel, grey area: untouched in evaluation
  c.spatial = {0.f, 0.f, 1.f, 1.f, 0.f, 0.f};
  c.color = {0.05f, 25.f, 0.2f, 0.1f, 0.5f};
  const kd::PreparedSample train = kd::prepare_sample(r, {2, -1}, c, 5, true);
  double diff = 0;
  for (size_t i = 0; i < train.image.size(); ++i) {
    ASSERT_GE(train.image[i], 0.f);
    ASSERT_LE(train.image[i], 1.f);
    diff += std::abs(train.image[i] - eval.image[i]);
  }
  EXPECT_GT(diff, 1.0);  // colour jitter changed the pixels, geometry stayed (no spatial augmentation)
  EXPECT_FLOAT_EQ(train.boxes[0].box.x2, 24.f);

  r.image = "garbage";
  try {
    kd::prepare_sample(r, {2, -1}, c, 5, true);
    FAIL();
  } catch (const kiln::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("images/a.png: cannot decode"), std::string::npos) << e.what();
  }
}

TEST(Augment, ConfigValidationNamesTaoKeys) {
  auto c = config(32, 32);
  EXPECT_NO_THROW(c.validate());
  c.spatial.zoom_max = 0.5f;
  try {
    c.validate();
    FAIL();
  } catch (const kiln::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("augmentation_config.spatial_augmentation.zoom_max"), std::string::npos);
  }
}
