#include <nlohmann/json.hpp>
#include <thread>

#include "data/test_util.h"

namespace kiln::data {
namespace {

using test::data_error_of;
using test::MemoryDataset;
using test::ScratchDir;

constexpr size_t kHeader = 48, kRecordOverhead = 28;

void expect_same_records(const Dataset& a, const Dataset& b, size_t n) {
  ASSERT_EQ(a.shape(), b.shape());
  std::vector<uint8_t> x(a.shape().bytes()), y(b.shape().bytes());
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(a.get(i, x.data()), b.get(i, y.data())) << "label of record " << i;
    ASSERT_EQ(x, y) << "pixels of record " << i;
  }
}

TEST(Shards, RoundTripKeepsEveryRecordShapeAndClassNames) {
  ScratchDir dir;
  MemoryDataset src(103, {3, 5, 4}, 7);
  std::vector<std::pair<size_t, size_t>> calls;
  const size_t n = write_shards(src, dir.file("out"), 4, [&](size_t d, size_t t) { calls.emplace_back(d, t); });
  EXPECT_EQ(n, 103u);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(size_t{103}, size_t{103}));
  for (int s = 0; s < 4; ++s)
    EXPECT_TRUE(std::filesystem::exists(dir.file("out/shard-0000" + std::to_string(s) + "-of-00004.kshard")));

  auto ds = open_shards(dir.file("out"));
  ASSERT_EQ(ds->size(), 103u);
  EXPECT_EQ(ds->class_names(), src.class_names());
  expect_same_records(src, *ds, 103);
  EXPECT_EQ(ds->describe(0), dir.file("out/shard-00000-of-00004.kshard") + "#0");
  EXPECT_EQ(ds->describe(102), dir.file("out/shard-00003-of-00004.kshard") + "#102");

  auto limited = open_shards(dir.file("out"), 10);
  EXPECT_EQ(limited->size(), 10u);
}

TEST(Shards, MoreShardsThanRecordsAndConcurrentReads) {
  ScratchDir dir;
  MemoryDataset src(3, {1, 2, 2});
  write_shards(src, dir.file("out"), 5);
  auto ds = open_shards(dir.file("out"));
  expect_same_records(src, *ds, 3);

  MemoryDataset big(2000, {1, 8, 8});
  write_shards(big, dir.file("big"), 3);
  auto many = open_shards(dir.file("big"));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(64);
      for (size_t i = static_cast<size_t>(t); i < 2000; i += 4)
        if (many->get(i, buf.data()) != static_cast<int64_t>(i % 10) || std::memcmp(buf.data(), big.record(i), 64))
          ++bad;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad, 0);
}

TEST(Shards, RewritingWithFewerShardsRemovesTheOldOnes) {
  ScratchDir dir;
  MemoryDataset src(20, {1, 2, 2});
  write_shards(src, dir.file("out"), 4);
  write_shards(src, dir.file("out"), 2);
  size_t count = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("out"))) count += e.path().extension() == ".kshard";
  EXPECT_EQ(count, 2u);
  expect_same_records(src, *open_shards(dir.file("out")), 20);
}

TEST(Shards, FlippedByteIsAChecksumMismatchNamingShardAndRecord) {
  ScratchDir dir;
  MemoryDataset src(40, {1, 4, 4});
  write_shards(src, dir.file("out"), 2);  // records 0..19 and 20..39
  const std::string shard = dir.file("out/shard-00001-of-00002.kshard");
  const size_t record = 37, rec_bytes = kRecordOverhead + 16;
  const size_t offset = kHeader + (record - 20) * rec_bytes;
  std::string bytes = test::read_bytes(shard);
  bytes[offset + 24 + 5] = static_cast<char>(bytes[offset + 24 + 5] ^ 0x01);
  test::write_bytes(shard, bytes);

  auto ds = open_shards(dir.file("out"));
  std::vector<uint8_t> buf(16);
  EXPECT_EQ(ds->get(36, buf.data()), 6) << "neighbours are unaffected";
  const std::string msg = data_error_of([&] { ds->get(record, buf.data()); });
  EXPECT_NE(msg.find(shard + ": record 37 (offset " + std::to_string(offset) + "): checksum mismatch"),
            std::string::npos)
      << msg;
}

TEST(Shards, TruncatedShardNamesShardAndFirstIncompleteRecord) {
  ScratchDir dir;
  MemoryDataset src(40, {1, 4, 4});
  write_shards(src, dir.file("out"), 2);
  const std::string shard = dir.file("out/shard-00001-of-00002.kshard");
  const size_t rec_bytes = kRecordOverhead + 16;
  std::filesystem::resize_file(shard, kHeader + 5 * rec_bytes + 3);
  const std::string msg = data_error_of([&] { open_shards(dir.file("out")); });
  EXPECT_NE(msg.find(shard + ": truncated: record 25 (offset " + std::to_string(kHeader + 5 * rec_bytes) + ")"),
            std::string::npos)
      << msg;
}

TEST(Shards, MissingShardFileIsNamed) {
  ScratchDir dir;
  MemoryDataset src(40, {1, 4, 4});
  write_shards(src, dir.file("out"), 2);
  const std::string shard = dir.file("out/shard-00000-of-00002.kshard");
  std::filesystem::remove(shard);
  const std::string msg = data_error_of([&] { open_shards(dir.file("out")); });
  EXPECT_NE(msg.find(shard + ": cannot open"), std::string::npos) << msg;
  EXPECT_NE(msg.find("records 0..19"), std::string::npos) << msg;
}

TEST(Shards, MissingOrBrokenIndexIsNamed) {
  ScratchDir dir;
  MemoryDataset src(10, {1, 2, 2});
  write_shards(src, dir.file("out"), 1);
  const std::string index = dir.file("out/index.json");
  const std::string good = test::read_bytes(index);

  test::write_bytes(index, good.substr(0, good.size() / 2));
  std::string msg = data_error_of([&] { open_shards(dir.file("out")); });
  EXPECT_NE(msg.find(index + ": cannot parse"), std::string::npos) << msg;

  auto j = nlohmann::json::parse(good);
  j["num_records"] = 11;
  test::write_bytes(index, j.dump());
  msg = data_error_of([&] { open_shards(dir.file("out")); });
  EXPECT_NE(msg.find(index + ": num_records is 11 but the shards hold 10"), std::string::npos) << msg;

  std::filesystem::remove(index);
  msg = data_error_of([&] { open_shards(dir.file("out")); });
  EXPECT_NE(msg.find(index + ": missing"), std::string::npos) << msg;
}

TEST(Shards, ShardFromAnotherConversionIsRejected) {
  ScratchDir dir;
  write_shards(MemoryDataset(40, {1, 4, 4}), dir.file("a"), 2);
  write_shards(MemoryDataset(30, {1, 4, 4}), dir.file("b"), 2);
  std::filesystem::copy_file(dir.file("b/shard-00001-of-00002.kshard"), dir.file("a/shard-00001-of-00002.kshard"),
                             std::filesystem::copy_options::overwrite_existing);
  const std::string msg = data_error_of([&] { open_shards(dir.file("a")); });
  EXPECT_NE(msg.find(dir.file("a/shard-00001-of-00002.kshard")), std::string::npos) << msg;
}

TEST(Shards, LabelOutsideTheClassesIsRejectedWhenWriting) {
  class BadLabel : public MemoryDataset {
   public:
    BadLabel() : MemoryDataset(5, {1, 2, 2}, 3) {}
    int64_t get(size_t i, uint8_t* out) const override { return i == 3 ? 7 : MemoryDataset::get(i, out); }
  };
  ScratchDir dir;
  const std::string msg = data_error_of([&] { write_shards(BadLabel(), dir.file("out"), 1); });
  EXPECT_NE(msg.find("memory#3: label 7 is outside the 3 classes"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/index.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("out/shard-00000-of-00001.kshard")));
}

TEST(Shards, FailedReconversionLeavesNoIndexOverMixedShards) {
  ScratchDir dir;
  write_shards(MemoryDataset(40, {1, 4, 4}), dir.file("out"), 2);
  MemoryDataset failing(40, {1, 4, 4}, 5);  // same shape and count, different labels
  failing.fail_on = [](size_t i) { return i == 30; };  // in the second shard, after the first was replaced
  data_error_of([&] { write_shards(failing, dir.file("out"), 2); });
  const std::string msg = data_error_of([&] { open_shards(dir.file("out")); });
  EXPECT_NE(msg.find("index.json: missing"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln::data
