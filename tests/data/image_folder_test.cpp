#include "data/test_util.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace kiln::data {
namespace {

using test::data_error_of;
using test::ScratchDir;

// A w×h image with `comps` interleaved channels whose value at (y, x, c) is a simple function of its position.
std::vector<uint8_t> pattern(int h, int w, int comps, int seed) {
  std::vector<uint8_t> v(static_cast<size_t>(h * w * comps));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < comps; ++c) v[static_cast<size_t>((y * w + x) * comps + c)] = static_cast<uint8_t>(seed + 10 * y + 3 * x + 50 * c);
  return v;
}

void write_png(const std::string& path, int h, int w, int comps, int seed) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const auto px = pattern(h, w, comps, seed);
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, comps, px.data(), w * comps), 0) << path;
}

TEST(ImageFolder, ClassesAreSortedFoldersAndFilesAreSortedByName) {
  ScratchDir dir;
  write_png(dir.file("zebra/b.png"), 3, 4, 1, 1);
  write_png(dir.file("zebra/a.PNG"), 3, 4, 1, 2);
  write_png(dir.file("apple/x.png"), 3, 4, 1, 3);
  write_png(dir.file("mango/m.png"), 3, 4, 1, 4);
  test::write_bytes(dir.file("mango/notes.txt"), "not an image");
  test::write_bytes(dir.file("mango/._m.png"), "macOS resource fork");
  std::filesystem::create_directories(dir.file(".git"));
  auto ds = open_image_folder(dir.path().string(), {1, 3, 4});
  ASSERT_EQ(ds->class_names(), (std::vector<std::string>{"apple", "mango", "zebra"}));
  ASSERT_EQ(ds->size(), 4u);
  std::vector<uint8_t> buf(12);
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"apple/x.png", 0}, {"mango/m.png", 1}, {"zebra/a.PNG", 2}, {"zebra/b.png", 2}};
  const int seeds[] = {3, 4, 2, 1};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ds->describe(i), dir.file(expected[i].first));
    EXPECT_EQ(ds->get(i, buf.data()), expected[i].second);
    EXPECT_EQ(buf, pattern(3, 4, 1, seeds[i])) << "PNG is lossless, pixels must round-trip";
  }
}

TEST(ImageFolder, GreyBecomesRgbByReplicationAndRgbBecomesGreyByLuma) {
  ScratchDir dir;
  write_png(dir.file("a/grey.png"), 2, 3, 1, 20);
  write_png(dir.file("b/rgb.png"), 2, 3, 3, 7);
  const auto grey = pattern(2, 3, 1, 20), rgb = pattern(2, 3, 3, 7);

  auto as_rgb = open_image_folder(dir.path().string(), {3, 2, 3});
  std::vector<uint8_t> buf(18);
  as_rgb->get(0, buf.data());
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 6; ++p) EXPECT_EQ(buf[static_cast<size_t>(c * 6 + p)], grey[static_cast<size_t>(p)]);
  as_rgb->get(1, buf.data());
  for (int c = 0; c < 3; ++c)  // CHW planes out of HWC pixels
    for (int p = 0; p < 6; ++p) EXPECT_EQ(buf[static_cast<size_t>(c * 6 + p)], rgb[static_cast<size_t>(p * 3 + c)]);

  auto as_grey = open_image_folder(dir.path().string(), {1, 2, 3});
  as_grey->get(1, buf.data());
  for (size_t p = 0; p < 6; ++p) {
    const int luma = (rgb[p * 3] * 77 + rgb[p * 3 + 1] * 150 + rgb[p * 3 + 2] * 29) >> 8;
    EXPECT_EQ(buf[p], luma) << "pixel " << p;
  }
}

TEST(ImageFolder, JpegFilesAreRead) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.file("c"));
  const auto px = pattern(8, 8, 3, 0);
  ASSERT_NE(stbi_write_jpg(dir.file("c/photo.JPeG").c_str(), 8, 8, 3, px.data(), 95), 0);
  auto ds = open_image_folder(dir.path().string(), {3, 8, 8});
  ASSERT_EQ(ds->size(), 1u);
  std::vector<uint8_t> buf(3 * 64);
  EXPECT_EQ(ds->get(0, buf.data()), 0);
}

TEST(ImageFolder, ImagesOfAnotherSizeAreResizedToTheInputSize) {
  ScratchDir dir;
  std::vector<uint8_t> ramp(60 * 90);  // grey, 2·x + y: grows left to right and top to bottom, never wraps
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 90; ++x) ramp[static_cast<size_t>(y * 90 + x)] = static_cast<uint8_t>(2 * x + y);
  std::filesystem::create_directories(dir.file("a"));
  ASSERT_NE(stbi_write_png(dir.file("a/big.png").c_str(), 90, 60, 1, ramp.data(), 90), 0);
  write_png(dir.file("a/small.png"), 7, 5, 3, 0);
  const std::vector<uint8_t> flat(40 * 30 * 3, 77);
  std::filesystem::create_directories(dir.file("b"));
  ASSERT_NE(stbi_write_png(dir.file("b/flat.png").c_str(), 40, 30, 3, flat.data(), 40 * 3), 0);
  auto ds = open_image_folder(dir.path().string(), {1, 16, 12});
  EXPECT_EQ(ds->shape(), (ImageShape{1, 16, 12}));
  std::vector<uint8_t> buf(16 * 12, 0);
  for (size_t i = 0; i < ds->size(); ++i) EXPECT_NO_THROW(ds->get(i, buf.data())) << ds->describe(i);
  ASSERT_EQ(ds->get(2, buf.data()), 1);
  for (uint8_t v : buf) ASSERT_EQ(v, 77) << "a flat image stays flat";
  ds->get(0, buf.data());
  for (int y = 0; y < 16; ++y)
    for (int x = 1; x < 12; ++x) ASSERT_LT(buf[y * 12 + x - 1], buf[y * 12 + x]) << "left to right at " << y;
  EXPECT_LT(buf[0], buf[15 * 12]) << "top to bottom";
  EXPECT_NEAR(buf[0], 4, 4) << "corners keep about their values";
  EXPECT_NEAR(buf[15 * 12 + 11], 2 * 89 + 59, 8);
}

TEST(ImageFolder, WithoutResizeAWrongSizeNamesTheFileAndBothSizes) {
  ScratchDir dir;
  write_png(dir.file("a/ok.png"), 28, 28, 1, 0);
  write_png(dir.file("a/small.png"), 20, 24, 1, 0);
  auto ds = open_image_folder(dir.path().string(), {1, 28, 28}, 0, /*resize=*/false);
  std::vector<uint8_t> buf(28 * 28);
  ds->get(0, buf.data());
  const std::string msg = data_error_of([&] { ds->get(1, buf.data()); });
  EXPECT_NE(msg.find(dir.file("a/small.png")), std::string::npos) << msg;
  EXPECT_NE(msg.find("20x24"), std::string::npos) << msg;
  EXPECT_NE(msg.find("28x28"), std::string::npos) << msg;
}

TEST(ImageFolder, ZeroSizeMeansTheFirstImageDecides) {
  ScratchDir dir;
  write_png(dir.file("a/1.png"), 5, 6, 3, 0);
  auto ds = open_image_folder(dir.path().string(), {1, 0, 0});
  EXPECT_EQ(ds->shape(), (ImageShape{1, 5, 6}));
}

TEST(ImageFolder, UndecodableFileIsNamed) {
  ScratchDir dir;
  write_png(dir.file("a/good.png"), 4, 4, 1, 0);
  std::filesystem::create_directories(dir.file("b"));
  test::write_bytes(dir.file("b/broken.png"), "not an image at all");  // (a PNG's damage: png_check_test.cpp)
  auto ds = open_image_folder(dir.path().string(), {1, 4, 4});
  std::vector<uint8_t> buf(16);
  const std::string msg = data_error_of([&] { ds->get(1, buf.data()); });
  EXPECT_NE(msg.find(dir.file("b/broken.png") + ": cannot decode image"), std::string::npos) << msg;
}

TEST(ImageFolder, EmptyOrMissingRootIsAnError) {
  ScratchDir dir;
  std::string msg = data_error_of([&] { open_image_folder(dir.path().string(), {1, 4, 4}); });
  EXPECT_NE(msg.find(dir.path().string() + ": image folder has no class sub-folders"), std::string::npos) << msg;
  std::filesystem::create_directories(dir.file("empty_class"));
  msg = data_error_of([&] { open_image_folder(dir.path().string(), {1, 4, 4}); });
  EXPECT_NE(msg.find("no .png/.jpg/.jpeg files"), std::string::npos) << msg;
  msg = data_error_of([&] { open_image_folder(dir.file("missing"), {1, 4, 4}); });
  EXPECT_NE(msg.find(dir.file("missing")), std::string::npos) << msg;
}

TEST(ImageFolder, LimitSpreadsOverClasses) {
  ScratchDir dir;
  for (int i = 0; i < 5; ++i) write_png(dir.file("a/" + std::to_string(i) + ".png"), 2, 2, 1, i);
  write_png(dir.file("b/0.png"), 2, 2, 1, 0);
  for (int i = 0; i < 5; ++i) write_png(dir.file("c/" + std::to_string(i) + ".png"), 2, 2, 1, i);
  auto ds = open_image_folder(dir.path().string(), {1, 2, 2}, 5);
  ASSERT_EQ(ds->size(), 5u);
  std::vector<uint8_t> buf(4);
  std::vector<int64_t> labels;
  for (size_t i = 0; i < 5; ++i) labels.push_back(ds->get(i, buf.data()));
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 0, 1, 2, 2}));
  EXPECT_EQ(ds->num_classes(), 3) << "a class left empty by the limit keeps its label";
}

}  // namespace
}  // namespace kiln::data
