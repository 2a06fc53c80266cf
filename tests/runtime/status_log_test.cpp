// status.json stays JSON lines whatever happens to the disk: a full disk loses whole events (and says so), never
// leaves half a line, and a torn line left by a killed writer is cut off before the next event.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/common/fs.h"
#include "kiln/runtime/report.h"
#include "runtime/tmpfs_mount.h"

namespace fs = std::filesystem;
using kiln::runtime::StatusLog;
using kiln::runtime::testing::TmpfsMount;

namespace {

std::vector<nlohmann::json> events_of(const std::string& file) {
  const std::string text = kiln::read_file(file);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << file << " ends in a torn line";
  std::vector<nlohmann::json> events;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << "not a JSON line: " << line.substr(0, 80);
    if (nlohmann::json::accept(line)) events.push_back(nlohmann::json::parse(line));
  }
  return events;
}

TEST(StatusLogTest, TornLastLineIsCutOffBeforeTheNextEvent) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_status_torn_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "status.json").string();
  std::ofstream(file) << "{\"status\":\"STARTED\"}\n{\"status\":\"RUNN";  // a writer killed mid-line
  ::testing::internal::CaptureStderr();
  StatusLog(file).write(StatusLog::Status::kFailure, "after the crash");
  const std::string err = ::testing::internal::GetCapturedStderr();
  const auto events = events_of(file);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].at("status"), "STARTED");
  EXPECT_EQ(events[1].at("status"), "FAILURE");
  EXPECT_NE(err.find(file + ": dropped a torn last line (15 bytes"), std::string::npos) << err;
  fs::remove_all(dir);
}

// 64 KiB hold about 60 events of 1 KB: the rest fail with ENOSPC, some of them after a short write.
TEST(StatusLogTest, FullDiskLosesWholeEventsAndSaysSo) {
  TmpfsMount disk("64k");
  if (!disk.ok()) GTEST_SKIP() << disk.why();
  const std::string file = disk.path() + "/status.json";
  const std::string filler = disk.path() + "/filler";
  std::ofstream(filler) << std::string(8192, 'f');
  const std::string message(1000, 'm');
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 80; ++i) StatusLog(file).write(StatusLog::Status::kRunning, message, {{"epoch", i}});
  const std::string err = ::testing::internal::GetCapturedStderr();
  const size_t recorded = events_of(file).size();
  EXPECT_GT(recorded, 40u);
  EXPECT_LT(recorded, 80u);
  EXPECT_NE(err.find("WARNING status RUNNING not recorded: appending a line to " + file +
                     " (nothing of it was kept): No space left on device"),
            std::string::npos)
      << err;
  // Space comes back (the user cleans up): the next event is a whole line after the last recorded one.
  fs::remove(filler);
  StatusLog(file).write(StatusLog::Status::kFailure, "disk full");
  const auto events = events_of(file);
  ASSERT_EQ(events.size(), recorded + 1);
  EXPECT_EQ(events.back().at("status"), "FAILURE");
  for (size_t i = 0; i < recorded; ++i) EXPECT_EQ(events[i].at("epoch"), i);
}

}  // namespace
