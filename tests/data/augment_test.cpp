#include <set>

#include "data/test_util.h"
#include "kiln/data/loader.h"

namespace kiln::data {
namespace {

constexpr ImageShape kShape{1, 6, 8};

std::vector<uint8_t> image() {
  std::vector<uint8_t> v(kShape.bytes());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(1 + i * 5);  // no zeros: padding is visible
  return v;
}

std::vector<float> run(const Augmentation& aug, uint64_t key, const std::vector<uint8_t>& px = image(),
                       ImageShape shape = kShape) {
  std::vector<float> out(shape.bytes(), -999.f);
  augment_record(px.data(), shape, aug, key, out.data());
  return out;
}

// The image shifted so that output (y, x) shows source (y + dy, x + dx), zeros outside, then scaled by 1/255.
std::vector<float> shifted(int dy, int dx, bool flip) {
  const auto px = image();
  std::vector<float> out(kShape.bytes());
  for (int y = 0; y < kShape.height; ++y)
    for (int x = 0; x < kShape.width; ++x) {
      const int sx = flip ? kShape.width - 1 - x : x;
      const int ry = y + dy, rx = sx + dx;
      const bool inside = ry >= 0 && ry < kShape.height && rx >= 0 && rx < kShape.width;
      out[static_cast<size_t>(y * kShape.width + x)] =
          inside ? static_cast<float>(px[static_cast<size_t>(ry * kShape.width + rx)]) / 255.f : 0.f;
    }
  return out;
}

TEST(Augment, NormalisationIsExactPerChannel) {
  const ImageShape rgb{3, 4, 5};
  std::vector<uint8_t> px(rgb.bytes());
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37);
  Augmentation aug;
  aug.mean = {0.485f, 0.456f, 0.406f};
  aug.std = {0.229f, 0.224f, 0.225f};
  const auto out = run(aug, 1, px, rgb);
  for (size_t i = 0; i < px.size(); ++i) {
    const size_t c = i / 20;
    EXPECT_EQ(out[i], (static_cast<float>(px[i]) / 255.f - aug.mean[c]) / aug.std[c]) << "element " << i;
  }
  Augmentation single;
  single.mean = {0.5f};
  single.std = {0.25f};
  EXPECT_EQ(run(single, 1, px, rgb)[59], (static_cast<float>(px[59]) / 255.f - 0.5f) / 0.25f);
}

TEST(Augment, SameKeySameOutput) {
  Augmentation aug;
  aug.random_crop = aug.horizontal_flip = true;
  aug.crop_padding = 3;
  for (uint64_t key = 0; key < 50; ++key) EXPECT_EQ(run(aug, key), run(aug, key));
}

TEST(Augment, FlipMirrorsRowsAboutHalfTheTime) {
  Augmentation aug;
  aug.horizontal_flip = true;
  int flipped = 0;
  const int trials = 400;
  for (uint64_t key = 0; key < static_cast<uint64_t>(trials); ++key) {
    const auto out = run(aug, augmentation_key(3, 0, key));
    if (out == shifted(0, 0, true)) {
      ++flipped;
    } else {
      EXPECT_EQ(out, shifted(0, 0, false)) << "neither identity nor mirror for key " << key;
    }
  }
  EXPECT_GT(flipped, trials * 4 / 10);
  EXPECT_LT(flipped, trials * 6 / 10);
}

TEST(Augment, CropWithPaddingShiftsContentByEveryOffset) {
  Augmentation aug;
  aug.random_crop = true;
  aug.crop_padding = 2;
  std::set<std::pair<int, int>> seen;
  for (uint64_t key = 0; key < 500; ++key) {
    const auto out = run(aug, augmentation_key(0, 1, key));
    bool matched = false;
    for (int dy = -2; dy <= 2 && !matched; ++dy)
      for (int dx = -2; dx <= 2 && !matched; ++dx)
        if (out == shifted(dy, dx, false)) {
          seen.insert({dy, dx});
          matched = true;
        }
    EXPECT_TRUE(matched) << "key " << key << " is not a padded crop";
  }
  EXPECT_EQ(seen.size(), 25u) << "offsets in [0, 2*pad] in both axes";
}

TEST(Augment, NoAugmentationIsJustScaling) {
  EXPECT_EQ(run(Augmentation{}, 12345), shifted(0, 0, false));
}

TEST(Augment, KeysDependOnSeedEpochAndIndex) {
  std::set<uint64_t> keys;
  for (uint64_t seed = 0; seed < 4; ++seed)
    for (int64_t epoch = 0; epoch < 4; ++epoch)
      for (size_t i = 0; i < 4; ++i) keys.insert(augmentation_key(seed, epoch, i));
  EXPECT_EQ(keys.size(), 64u);
}

TEST(Augment, ValidationRejectsBadSettings) {
  Augmentation aug;
  aug.mean = {0.1f, 0.2f};
  EXPECT_THROW(validate_augmentation(aug, 3), UsageError);
  aug.mean = {0.1f};
  aug.std = {0.f};
  EXPECT_THROW(validate_augmentation(aug, 3), UsageError);
  aug.std = {1.f, 1.f, 1.f};
  EXPECT_NO_THROW(validate_augmentation(aug, 3));
}

}  // namespace
}  // namespace kiln::data
