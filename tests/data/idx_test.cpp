#include <zlib.h>

#include "data/test_util.h"
#include "kiln/common/fs.h"

namespace kiln::data {
namespace {

using test::data_error_of;
using test::ScratchDir;

std::vector<uint8_t> ramp(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + i / 13);
  return v;
}

class IdxRoundTrip : public ::testing::TestWithParam<const char*> {};

TEST_P(IdxRoundTrip, WriteThenReadGivesTheSameRecords) {
  ScratchDir dir;
  const std::string ext = GetParam();
  const size_t n = 23;
  const int h = 5, w = 7;
  const auto pixels = ramp(n * h * w);
  std::vector<uint8_t> labels(n);
  for (size_t i = 0; i < n; ++i) labels[i] = static_cast<uint8_t>((i * 3) % 10);
  write_idx_images(dir.file("img" + ext), pixels, n, h, w);
  write_idx_labels(dir.file("lbl" + ext), labels);

  const std::string head = test::read_bytes(dir.file("img" + ext)).substr(0, 2);
  EXPECT_EQ(head == "\x1f\x8b", ext == ".gz") << "gzip exactly when the name ends in .gz";

  auto ds = open_idx(dir.file("img" + ext), dir.file("lbl" + ext));
  ASSERT_EQ(ds->size(), n);
  EXPECT_EQ(ds->shape(), (ImageShape{1, h, w}));
  ASSERT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->class_names()[9], "ankle_boot");
  std::vector<uint8_t> buf(ds->shape().bytes());
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(ds->get(i, buf.data()), labels[i]);
    EXPECT_EQ(0, std::memcmp(buf.data(), pixels.data() + i * h * w, buf.size())) << "record " << i;
  }
  EXPECT_EQ(ds->describe(4), dir.file("img" + ext) + "#4");
}

INSTANTIATE_TEST_SUITE_P(GzipAndRaw, IdxRoundTrip, ::testing::Values(".gz", ""));

TEST(Idx, GzipIsDetectedByMagicNotByName) {
  ScratchDir dir;
  write_idx_images(dir.file("a.gz"), ramp(2 * 4), 2, 2, 2);
  write_idx_labels(dir.file("b.gz"), {1, 2});
  std::filesystem::rename(dir.file("a.gz"), dir.file("images"));
  auto ds = open_idx(dir.file("images"), dir.file("b.gz"));
  EXPECT_EQ(ds->size(), 2u);
}

TEST(Idx, LimitKeepsPrefixButClassesComeFromTheWholeFile) {
  ScratchDir dir;
  write_idx_images(dir.file("i"), ramp(5 * 4), 5, 2, 2);
  write_idx_labels(dir.file("l"), {0, 1, 2, 11, 10});
  auto ds = open_idx(dir.file("i"), dir.file("l"), 2);
  EXPECT_EQ(ds->size(), 2u);
  ASSERT_EQ(ds->num_classes(), 12);
  EXPECT_EQ(ds->class_names()[11], "11") << "more than 10 classes: numeric names";
  auto plain = open_idx(dir.file("i"), dir.file("l"), 0, false);
  EXPECT_EQ(plain->class_names()[0], "0");
}

// One corrupt label byte (200 among Fashion-MNIST's 0-9) would make a 201-class model.
TEST(Idx, LabelPastAClassWithoutRecordsNamesTheFileAndRecord) {
  ScratchDir dir;
  std::vector<uint8_t> labels(30);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 10);
  labels[17] = 200;
  write_idx_images(dir.file("i"), ramp(30 * 4), 30, 2, 2);
  write_idx_labels(dir.file("l"), labels);
  EXPECT_EQ(data_error_of([&] { open_idx(dir.file("i"), dir.file("l")); }),
            dir.file("l") + " record 17: label 200, but no record has label 10 (labels must number the classes 0..N-1;"
                            " a corrupt label byte?)");
  labels[17] = 10;  // eleven classes, each with records: valid
  write_idx_labels(dir.file("l"), labels);
  EXPECT_EQ(open_idx(dir.file("i"), dir.file("l"))->num_classes(), 11);
}

TEST(Idx, CorruptGzipNamesTheFile) {
  ScratchDir dir;
  write_idx_images(dir.file("img.gz"), ramp(50 * 28 * 28), 50, 28, 28);
  write_idx_labels(dir.file("lbl"), std::vector<uint8_t>(50, 1));
  std::string gz = test::read_bytes(dir.file("img.gz"));
  for (size_t i = 20; i < 60; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
  test::write_bytes(dir.file("img.gz"), gz);
  const std::string msg = data_error_of([&] { open_idx(dir.file("img.gz"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("img.gz")), std::string::npos) << msg;
  EXPECT_NE(msg.find("gzip"), std::string::npos) << msg;
}

TEST(Idx, TruncatedGzipNamesTheFile) {
  ScratchDir dir;
  write_idx_images(dir.file("img.gz"), ramp(50 * 28 * 28), 50, 28, 28);
  write_idx_labels(dir.file("lbl"), std::vector<uint8_t>(50, 1));
  const std::string gz = test::read_bytes(dir.file("img.gz"));
  test::write_bytes(dir.file("img.gz"), gz.substr(0, gz.size() / 2));
  const std::string msg = data_error_of([&] { open_idx(dir.file("img.gz"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("img.gz") + ": truncated gzip"), std::string::npos) << msg;
}

TEST(Idx, WrongMagicNamesTheFile) {
  ScratchDir dir;
  write_idx_images(dir.file("img"), ramp(3 * 4), 3, 2, 2);
  write_idx_labels(dir.file("lbl"), {1, 2, 3});
  // Swapped arguments: each file has the other's magic.
  const std::string msg = data_error_of([&] { open_idx(dir.file("lbl"), dir.file("img")); });
  EXPECT_NE(msg.find(dir.file("lbl") + ": bad magic 0x00000801, expected 0x00000803"), std::string::npos) << msg;
}

TEST(Idx, TruncatedImagesSayHowManyImagesArePresent) {
  ScratchDir dir;
  write_idx_images(dir.file("img"), ramp(10 * 28 * 28), 10, 28, 28);
  write_idx_labels(dir.file("lbl"), std::vector<uint8_t>(10, 0));
  const std::string raw = test::read_bytes(dir.file("img"));
  test::write_bytes(dir.file("img"), raw.substr(0, 16 + 28 * 28 * 4 + 100));
  const std::string msg = data_error_of([&] { open_idx(dir.file("img"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("img") + ": truncated: header says 10 images of 28x28 but data ends after 4 images"),
            std::string::npos)
      << msg;
}

TEST(Idx, TruncatedLabelsAndTinyFilesAreErrors) {
  ScratchDir dir;
  write_idx_images(dir.file("img"), ramp(10 * 4), 10, 2, 2);
  write_idx_labels(dir.file("lbl"), std::vector<uint8_t>(10, 0));
  test::write_bytes(dir.file("lbl"), test::read_bytes(dir.file("lbl")).substr(0, 8 + 6));
  std::string msg = data_error_of([&] { open_idx(dir.file("img"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("lbl") + ": truncated: header says 10 labels but data ends after 6"), std::string::npos)
      << msg;
  test::write_bytes(dir.file("lbl"), "\x00\x00");
  msg = data_error_of([&] { open_idx(dir.file("img"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("lbl") + ": truncated"), std::string::npos) << msg;
}

TEST(Idx, CountMismatchNamesBothFiles) {
  ScratchDir dir;
  write_idx_images(dir.file("img"), ramp(5 * 4), 5, 2, 2);
  write_idx_labels(dir.file("lbl"), {1, 2, 3, 4});
  const std::string msg = data_error_of([&] { open_idx(dir.file("img"), dir.file("lbl")); });
  EXPECT_NE(msg.find(dir.file("img") + " has 5 images but " + dir.file("lbl") + " has 4 labels"), std::string::npos)
      << msg;
}

TEST(Idx, MissingFileNamesIt) {
  ScratchDir dir;
  const std::string msg = data_error_of([&] { open_idx(dir.file("nope"), dir.file("nope2")); });
  EXPECT_NE(msg.find(dir.file("nope")), std::string::npos) << msg;
}

TEST(Idx, FashionMnistTrainingSet) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  const std::string images = root + "train-images-idx3-ubyte.gz", labels = root + "train-labels-idx1-ubyte.gz";
  if (!file_exists(images) || !file_exists(labels)) GTEST_SKIP() << "Fashion-MNIST not installed at " << root;
  auto ds = open_idx(images, labels);
  ASSERT_EQ(ds->size(), 60000u);
  EXPECT_EQ(ds->shape(), (ImageShape{1, 28, 28}));
  std::vector<uint8_t> buf(28 * 28);
  EXPECT_EQ(ds->get(0, buf.data()), 9);
  EXPECT_EQ(ds->class_names()[9], "ankle_boot");
  EXPECT_EQ(ds->get(1, buf.data()), 0);  // the second training image is a T-shirt
  std::vector<int> counts(10, 0);
  for (size_t i = 0; i < ds->size(); ++i) ++counts[static_cast<size_t>(ds->get(i, buf.data()))];
  for (int c : counts) EXPECT_EQ(c, 6000);
}

}  // namespace
}  // namespace kiln::data
