// TensorBoard event files: what EventLog writes is read back by an independent reader (tests/support/tfevents.py:
// its own CRC-32C over the TFRecord framing, a protobuf wire decode with TensorFlow's field numbers).
#include "kiln/runtime/tensorboard.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>

namespace kiln::runtime {
namespace {

std::vector<nlohmann::json> read_events(const std::string& path) {
  const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) + "/tests/support/tfevents.py '" +
                              path + "' 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::vector<nlohmann::json> events;
  char line[1 << 16];
  while (pipe && fgets(line, sizeof line, pipe.get())) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "the reader said: " << line;
    if (!parsed.is_discarded()) events.push_back(parsed);
  }
  return events;
}

std::string fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::path(KILN_BINARY_DIR) / "tests" / "tensorboard_work" / name;
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST(EventLog, ScalarsAndImagesReadBackWithValidCrcs) {
  const std::string dir = fresh_dir("scalars");
  std::string path;
  {
    EventLog log(dir);
    path = log.path();
    EXPECT_EQ(std::filesystem::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);
    log.scalar("loss", 0.25, 10);
    log.scalar("learning_rate", 1e-3, 10);
    RgbImage image{4, 6, std::vector<uint8_t>(4 * 6 * 3, 200)};
    log.image("samples/0", image, 3);
    log.flush();
  }
  const auto events = read_events(path);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["file_version"], "brain.Event:2");
  EXPECT_EQ(events[1]["step"], 10);
  EXPECT_EQ(events[1]["values"][0]["tag"], "loss");
  EXPECT_FLOAT_EQ(events[1]["values"][0]["simple_value"].get<float>(), 0.25f);
  EXPECT_FLOAT_EQ(events[2]["values"][0]["simple_value"].get<float>(), 1e-3f);
  const auto& img = events[3]["values"][0]["image"];
  EXPECT_EQ(img["height"], 4);
  EXPECT_EQ(img["width"], 6);
  EXPECT_EQ(img["colorspace"], 3);
  EXPECT_TRUE(img["png_signature_ok"].get<bool>());
  EXPECT_GT(events[1]["wall_time"].get<double>(), 1.7e9);
}

// A flipped byte anywhere in a record is caught by the reader's own CRC check: the test reader is not a rubber stamp.
TEST(EventLog, TheReaderRejectsACorruptRecord) {
  const std::string dir = fresh_dir("corrupt");
  std::string path;
  {
    EventLog log(dir);
    path = log.path();
    log.scalar("loss", 1.5, 1);
    log.flush();
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-6, std::ios::end);
  f.put('\x7f');
  f.close();
  const std::string command = "/usr/bin/python3 " + std::string(KILN_SOURCE_DIR) + "/tests/support/tfevents.py '" +
                              path + "' >/dev/null 2>&1";
  EXPECT_NE(std::system(command.c_str()), 0);
}

}  // namespace
}  // namespace kiln::runtime
