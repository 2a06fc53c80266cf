// The progress display (report.h): lines that fit the terminal (an 80-column one included) and always show the ETA
// of the whole run; no display for work that finishes quickly; plural units.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "kiln/runtime/report.h"

using namespace kiln::runtime;

namespace {

ProgressView epoch_view() {
  ProgressView v;
  v.title = "Epoch 3/10", v.unit = "step", v.stats = "loss 0.4123 lr 0.01";
  v.done = 120, v.total = 469, v.elapsed = 12, v.eta = 35, v.run_eta = 3723;
  return v;
}

std::string read_all(std::FILE* f) {
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out += static_cast<char>(c);
  return out;
}

size_t count(const std::string& s, char c) { return static_cast<size_t>(std::count(s.begin(), s.end(), c)); }

}  // namespace

TEST(ProgressLine, FitsTheWidthAndAlwaysShowsTheRunEta) {
  for (const int width : {20, 40, 80, 200}) {
    const std::string line = progress_line(epoch_view(), width);
    EXPECT_LT(line.size(), static_cast<size_t>(width)) << width << ": " << line;
    EXPECT_NE(line.find("1:02:03"), std::string::npos) << width << ": " << line;  // the whole run's ETA
  }
  const std::string wide = progress_line(epoch_view(), 200);
  EXPECT_NE(wide.find("[="), std::string::npos) << wide;  // room for everything: bar, stats, epoch ETA, run ETA
  EXPECT_NE(wide.find("loss 0.4123 lr 0.01"), std::string::npos) << wide;
  EXPECT_NE(wide.find("ETA 00:35"), std::string::npos) << wide;
  EXPECT_NE(wide.find("run ETA 1:02:03"), std::string::npos) << wide;
  // 80 columns: the bar goes first, the numbers stay.
  const std::string eighty = progress_line(epoch_view(), 80);
  EXPECT_EQ(eighty.find('['), std::string::npos) << eighty;
  EXPECT_NE(eighty.find("120/469"), std::string::npos) << eighty;
  EXPECT_NE(eighty.find("loss 0.4123"), std::string::npos) << eighty;
  EXPECT_NE(eighty.find("run ETA 1:02:03"), std::string::npos) << eighty;
  const std::string forty = progress_line(epoch_view(), 40);
  EXPECT_NE(forty.find("120/469"), std::string::npos) << forty;
}

TEST(ProgressLine, WorkWithoutARunShowsItsOwnEtaAndPluralUnits) {
  ProgressView v;
  v.title = "Calibration", v.unit = "batch", v.done = 3, v.total = 10, v.elapsed = 5, v.eta = 12;
  const std::string line = progress_line(v, 200);
  EXPECT_NE(line.find("3/10 batches"), std::string::npos) << line;  // not "batchs"
  EXPECT_NE(line.find("ETA 00:12"), std::string::npos) << line;
  EXPECT_EQ(line.find("run ETA"), std::string::npos) << line;
  for (const int width : {12, 30, 40, 80}) {
    const std::string fitted = progress_line(v, width);
    EXPECT_LT(fitted.size(), static_cast<size_t>(width)) << fitted;
    EXPECT_NE(fitted.find("00:12"), std::string::npos) << width << ": " << fitted;
  }
  v.final = true, v.done = 10;
  EXPECT_EQ(progress_line(v, 0).find("ETA"), std::string::npos);
}

TEST(Progress, QuickWorkPrintsOneFinalLineOnly) {
  for (const bool bar : {false, true}) {
    std::FILE* f = std::tmpfile();
    ASSERT_NE(f, nullptr);
    {
      Progress p("Writing shards", 10, "record", ProgressOutput{f, bar, 80});
      for (int i = 1; i <= 10; ++i) p.update(i);  // every tenth crossed, well within a second
      p.finish();
    }
    const std::string out = read_all(f);
    std::fclose(f);
    EXPECT_EQ(count(out, '\n'), 1u) << out;
    EXPECT_EQ(count(out, '\r'), bar ? 1u : 0u) << out;
    EXPECT_NE(out.find("Writing shards"), std::string::npos) << out;
    EXPECT_NE(out.find("10/10 records"), std::string::npos) << out;
  }
}
