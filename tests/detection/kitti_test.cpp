// KITTI label parsing and formatting (runtime/include/kiln/detection/kitti.h).
#include "kiln/detection/kitti.h"

#include <gtest/gtest.h>

#include <string>

#include "kiln/common/error.h"

namespace kd = kiln::detection;

namespace {

std::string error_of(const std::string& text, int w = 0, int h = 0) {
  try {
    kd::parse_kitti_labels(text, "labels/000007.txt", w, h);
  } catch (const kiln::DataError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Kitti, ParsesFifteenFieldLinesAndLowerCasesClassNames) {
  const auto objs = kd::parse_kitti_labels(
      "Car 0.00 1 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59\n"
      "\n"
      "t_shirt 0 0 0 10 20 30.5 40 0 0 0 0 0 0 0\r\n",
      "x.txt");
  ASSERT_EQ(objs.size(), 2u);
  EXPECT_EQ(objs[0].type, "car");
  EXPECT_FLOAT_EQ(objs[0].box.x1, 587.01f);
  EXPECT_FLOAT_EQ(objs[0].box.y2, 200.12f);
  EXPECT_FLOAT_EQ(objs[0].occluded, 1.f);
  EXPECT_FLOAT_EQ(objs[0].z, 46.70f);
  EXPECT_FLOAT_EQ(objs[0].rotation_y, -1.59f);
  EXPECT_FLOAT_EQ(objs[0].score, -1.f);
  EXPECT_EQ(objs[1].type, "t_shirt");
  EXPECT_FLOAT_EQ(objs[1].box.x2, 30.5f);
}

TEST(Kitti, SixteenthFieldIsTheScore) {
  const auto objs = kd::parse_kitti_labels("bag 0 0 0 1 2 3 4 0 0 0 0 0 0 0 0.875\n", "x.txt");
  ASSERT_EQ(objs.size(), 1u);
  EXPECT_FLOAT_EQ(objs[0].score, 0.875f);
}

TEST(Kitti, ErrorsNameFileLineAndField) {
  EXPECT_EQ(error_of("bag 0 0 0 1 2 3 4 0 0 0 0 0 0 0\nbag 0 0 0 1 2 3\n"),
            "labels/000007.txt:2: expected 15 fields (type truncated occluded alpha x1 y1 x2 y2 h w l x y z "
            "rotation_y), or 16 with a score; found 7");
  EXPECT_EQ(error_of("bag 0 0 0 1 2 x3 4 0 0 0 0 0 0 0\n"),
            "labels/000007.txt:1: field 7 (x2) is not a number: 'x3'");
  EXPECT_EQ(error_of("bag 0 0 0 1 2 3 4 0 0 0 0 0 0 nan\n"),
            "labels/000007.txt:1: field 15 (rotation_y) is not a number: 'nan'");
  EXPECT_EQ(error_of("\n\nbag 0 0 0 5 2 5 4 0 0 0 0 0 0 0\n"),
            "labels/000007.txt:3: box (5, 2, 5, 4) is empty: x1 must be < x2 and y1 < y2");
  EXPECT_EQ(error_of("bag 0 0 0 -1 2 3 4 0 0 0 0 0 0 0\n"),
            "labels/000007.txt:1: box (-1, 2, 3, 4) has a negative coordinate");
  EXPECT_EQ(error_of("bag 0 0 0 1 2 3 4 0 0 0 0 0 0 0\nbag 0 0 0 1 2 33 4 0 0 0 0 0 0 0\n", 32, 32),
            "labels/000007.txt:2: box (1, 2, 33, 4) lies outside the 32x32 image");
  EXPECT_EQ(error_of("bag 0 0 0 1 2 32 32 0 0 0 0 0 0 0\n", 32, 32), "(no error)");  // the far edge is inside
}

TEST(Kitti, MissingFileIsADataErrorNamingIt) {
  try {
    kd::read_kitti_labels("/nonexistent/labels/1.txt");
    FAIL() << "no error";
  } catch (const kiln::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/labels/1.txt: cannot read"), std::string::npos) << e.what();
  }
}

TEST(Kitti, FormatReadsBackTheSameObject) {
  kd::KittiObject o;
  o.type = "ankle_boot";
  o.occluded = 1;
  o.box = {12.25f, 7.f, 50.125f, 61.3f};
  o.score = 0.5f;
  EXPECT_EQ(kd::format_kitti_object(o), "ankle_boot 0.00 1 0.00 12.25 7 50.125 61.2999992 0.00 0.00 0.00 0.00 0.00 "
                                        "0.00 0.00");
  const auto back = kd::parse_kitti_labels(kd::format_kitti_object(o, true) + "\n", "f");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].type, "ankle_boot");
  EXPECT_EQ(back[0].box.y2, o.box.y2);  // exact: 9 significant digits round-trip a float
  EXPECT_EQ(back[0].score, 0.5f);
}

TEST(Kitti, IouOfHandMadeBoxes) {
  EXPECT_FLOAT_EQ(kd::iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
  EXPECT_FLOAT_EQ(kd::iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.f / 150.f);
  EXPECT_FLOAT_EQ(kd::iou({0, 0, 10, 10}, {10, 0, 20, 10}), 0.f);  // touching edges
  EXPECT_FLOAT_EQ(kd::iou({0, 0, 0, 10}, {0, 0, 10, 10}), 0.f);    // empty box
}
