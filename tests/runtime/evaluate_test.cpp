// Classification metrics as evaluate prints them (evaluate.h): the confusion matrix with class names as labels, and
// for many classes the most frequent confusions and where the whole matrix is.
#include "kiln/runtime/evaluate.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

using namespace kiln::runtime;

namespace {

Metrics with_confusion(int64_t classes) {
  Metrics m;
  m.confusion = at::zeros({classes, classes}, at::kLong);
  for (int64_t i = 0; i < classes; ++i) {
    m.class_names.push_back("class_number_" + std::to_string(i));
    m.confusion[i][i] = 100 + i;
  }
  return m;
}

}  // namespace

TEST(EvaluateReport, PrintsTheConfusionMatrixWithClassNames) {
  Metrics m;
  m.class_names = {"t_shirt", "trouser", "bag"};
  m.confusion = at::tensor(std::vector<int64_t>{50, 2, 0, 1, 47, 3, 0, 9, 1234}, at::kLong).view({3, 3});
  const std::string t = m.confusion_table("ev/confusion_matrix.csv");
  std::istringstream in(t);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 5u) << t;  // title, header, 3 rows
  EXPECT_NE(lines[0].find("ev/confusion_matrix.csv"), std::string::npos) << t;
  EXPECT_NE(lines[1].find("t_shi"), std::string::npos) << t;  // column labels: the names cut to the cell width
  EXPECT_NE(lines[1].find("bag"), std::string::npos) << t;
  EXPECT_EQ(lines[2].rfind("t_shirt", 0), 0u) << t;  // row labels: the full names
  EXPECT_NE(lines[4].find("1234"), std::string::npos) << t;
  for (size_t i = 2; i < lines.size(); ++i) EXPECT_EQ(lines[i].size(), lines[1].size()) << t;  // aligned columns
}

TEST(EvaluateReport, ManyClassesListTheMostFrequentConfusionsAndPointAtTheCsv) {
  Metrics m = with_confusion(Metrics::kMaxPrintedClasses + 1);
  m.confusion[3][7] = 42;
  m.confusion[5][1] = 7;
  const std::string t = m.confusion_table("ev/confusion_matrix.csv");
  EXPECT_NE(t.find("too many to print"), std::string::npos) << t;
  EXPECT_NE(t.find("ev/confusion_matrix.csv"), std::string::npos) << t;
  const auto first = t.find("class_number_3 -> class_number_7: 42");
  const auto second = t.find("class_number_5 -> class_number_1: 7");
  ASSERT_NE(first, std::string::npos) << t;
  ASSERT_NE(second, std::string::npos) << t;
  EXPECT_LT(first, second) << t;  // most frequent first
  EXPECT_EQ(with_confusion(Metrics::kMaxPrintedClasses).confusion_table("x").find("too many"), std::string::npos);
}
