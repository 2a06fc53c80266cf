// Log lines as TAO prints them: `2026-12-05 13:49:22 INFO message`, levels, the prefix and --log_file.
#include "kiln/common/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "kiln/common/error.h"

namespace kiln {
namespace {

const std::string kStamp = R"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})";

std::string read(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool matches(const std::string& text, const std::string& pattern) {
  return std::regex_match(text, std::regex(pattern));
}

// Restores the level, prefix and file whatever a test set.
class LogTest : public ::testing::Test {
 protected:
  void TearDown() override {
    log::set_level(log::Level::kInfo);
    log::set_prefix("");
    log::set_file("");
  }
};

TEST_F(LogTest, LinesCarryDateTimeAndLevelAsTaoWritesThem) {
  std::tm t{};
  t.tm_year = 2026 - 1900;
  t.tm_mon = 11;
  t.tm_mday = 5;
  t.tm_hour = 13;
  t.tm_min = 49;
  t.tm_sec = 22;
  t.tm_isdst = -1;
  const std::time_t when = std::mktime(&t);  // local time, as format_line prints it
  EXPECT_EQ(log::format_line(log::Level::kInfo, "Starting training.", when),
            "2026-12-05 13:49:22 INFO Starting training.");
  EXPECT_EQ(log::format_line(log::Level::kWarn, "w", when), "2026-12-05 13:49:22 WARNING w");
  EXPECT_EQ(log::format_line(log::Level::kError, "e", when), "2026-12-05 13:49:22 ERROR e");
  EXPECT_EQ(log::format_line(log::Level::kDebug, "d", when), "2026-12-05 13:49:22 DEBUG d");
  EXPECT_EQ(log::format_line(log::Level::kInfo, "table\n a | b", when), "2026-12-05 13:49:22 INFO table\n a | b")
      << "the lines after the first keep their alignment";
}

TEST_F(LogTest, InfoGoesToStdoutWarningsAndErrorsToStderr) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  log::info("to stdout");
  log::warn("to stderr");
  log::error("also stderr");
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(matches(out, kStamp + " INFO to stdout\n")) << out;
  EXPECT_TRUE(matches(err, kStamp + " WARNING to stderr\n" + kStamp + " ERROR also stderr\n")) << err;
}

TEST_F(LogTest, LevelsFilterAndThePrefixComesFirst) {
  ::testing::internal::CaptureStdout();
  log::debug("hidden at INFO");
  log::set_level(log::Level::kDebug);
  log::debug("shown with -v");
  log::set_level(log::Level::kWarn);
  log::info("hidden with -q");
  log::set_level(log::Level::kInfo);
  log::set_prefix("[node01:1] ");
  log::info("prefixed");
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_TRUE(matches(out, kStamp + " DEBUG shown with -v\n\\[node01:1\\] " + kStamp + " INFO prefixed\n")) << out;
  EXPECT_EQ(log::level(), log::Level::kInfo);
}

TEST_F(LogTest, LogFileGetsTheLinesThatPassTheLevel) {
  const std::string path = ::testing::TempDir() + "kiln_log_test.log";
  std::remove(path.c_str());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  log::set_file(path);
  log::info("first");
  log::debug("not at INFO");
  log::warn("second");
  log::also_to_file("[vm:1] a rank's line");
  log::set_file("");
  log::info("after closing");
  ::testing::internal::GetCapturedStdout();
  ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(matches(read(path), kStamp + " INFO first\n" + kStamp + " WARNING second\n\\[vm:1\\] a rank's line\n"))
      << read(path);
  log::set_file(path);  // appends
  log::also_to_file("again");
  log::set_file("");
  EXPECT_TRUE(matches(read(path), "(.*\n)+again\n")) << read(path);
  EXPECT_THROW(log::set_file("/nonexistent/dir/kiln.log"), UsageError);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kiln
