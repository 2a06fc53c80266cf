#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "data/test_util.h"
#include "kiln/data/loader.h"
#include "kiln/data/sampler.h"

namespace kiln::data {
namespace {

using test::MemoryDataset;

constexpr ImageShape kShape{1, 6, 5};

LoaderOptions options(size_t batch, int workers, bool drop_last) {
  LoaderOptions o;
  o.batch_size = batch;
  o.num_workers = workers;
  o.drop_last = drop_last;
  o.prefetch = 3;
  o.seed = 17;
  o.epoch = 2;
  return o;
}

std::vector<size_t> shuffled(size_t n) {
  DistributedSampler s(n, 0, 1, 5, true, false);
  return s.indices();
}

std::vector<Batch> drain(Loader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

class LoaderWorkers : public ::testing::TestWithParam<int> {};

TEST_P(LoaderWorkers, BatchesFollowTheIndicesAndHoldTheRecords) {
  MemoryDataset ds(103, kShape);
  const auto indices = shuffled(103);
  Loader loader(ds, indices, options(10, GetParam(), false));
  ASSERT_EQ(loader.num_batches(), 11u);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 11u);
  std::vector<size_t> seen;
  for (const auto& b : batches) {
    const auto n = static_cast<size_t>(b.images.size(0));
    ASSERT_EQ(b.images.sizes(), (at::IntArrayRef{static_cast<int64_t>(n), 1, 6, 5}));
    ASSERT_EQ(b.images.scalar_type(), at::kFloat);
    ASSERT_EQ(b.labels.scalar_type(), at::kLong);
    ASSERT_EQ(b.indices.size(), n);
    const float* img = b.images.data_ptr<float>();
    for (size_t r = 0; r < n; ++r) {
      const size_t idx = b.indices[r];
      EXPECT_EQ(b.labels[static_cast<int64_t>(r)].item<int64_t>(), static_cast<int64_t>(idx % 10));
      for (size_t p = 0; p < kShape.bytes(); ++p)
        ASSERT_EQ(img[r * kShape.bytes() + p], static_cast<float>(ds.record(idx)[p]) / 255.f);
      seen.push_back(idx);
    }
  }
  EXPECT_EQ(batches.back().images.size(0), 3) << "partial last batch kept without drop_last";
  EXPECT_EQ(seen, indices);
  EXPECT_FALSE(loader.next().has_value()) << "stays finished";
}

TEST_P(LoaderWorkers, DropLastDropsThePartialBatch) {
  MemoryDataset ds(103, kShape);
  Loader loader(ds, shuffled(103), options(10, GetParam(), true));
  EXPECT_EQ(loader.num_batches(), 10u);
  const auto batches = drain(loader);
  ASSERT_EQ(batches.size(), 10u);
  for (const auto& b : batches) EXPECT_EQ(b.images.size(0), 10);
}

TEST_P(LoaderWorkers, ErrorOnARecordSurfacesInBatchOrderAfterTheGoodBatches) {
  MemoryDataset ds(200, kShape);
  const auto indices = shuffled(200);
  const size_t bad = indices[57];  // in batch 5
  ds.fail_on = [bad](size_t i) { return i == bad; };
  Loader loader(ds, indices, options(10, GetParam(), true));
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(loader.next().has_value()) << "batch " << b;
  try {
    loader.next();
    FAIL() << "expected the injected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("memory#" + std::to_string(bad) + ": injected failure"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(loader.next(), DataError) << "the loader stays failed";
}

INSTANTIATE_TEST_SUITE_P(Workers, LoaderWorkers, ::testing::Values(0, 1, 3));

TEST(Loader, WorkersGiveTheSameBatchesAsTheCallingThread) {
  MemoryDataset ds(301, {3, 8, 8});
  auto opts = options(16, 0, false);
  opts.augment.random_crop = opts.augment.horizontal_flip = true;
  opts.augment.crop_padding = 2;
  opts.augment.mean = {0.1f, 0.2f, 0.3f};
  opts.augment.std = {0.5f, 0.6f, 0.7f};
  Loader sync(ds, shuffled(301), opts);
  const auto expected = drain(sync);
  for (int workers : {1, 2, 4}) {
    opts.num_workers = workers;
    opts.prefetch = static_cast<size_t>(workers);
    Loader threaded(ds, shuffled(301), opts);
    const auto got = drain(threaded);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t b = 0; b < got.size(); ++b) {
      EXPECT_TRUE(at::equal(got[b].images, expected[b].images)) << workers << " workers, batch " << b;
      EXPECT_TRUE(at::equal(got[b].labels, expected[b].labels)) << workers << " workers, batch " << b;
    }
  }
}

TEST(Loader, AugmentationIsKeyedBySeedEpochAndIndex) {
  MemoryDataset ds(40, kShape);
  auto opts = options(8, 2, true);
  opts.augment.random_crop = opts.augment.horizontal_flip = true;
  std::vector<size_t> indices = shuffled(40);
  Loader loader(ds, indices, opts);
  const auto batches = drain(loader);
  std::vector<float> expect(kShape.bytes());
  for (const auto& b : batches)
    for (size_t r = 0; r < b.indices.size(); ++r) {
      augment_record(ds.record(b.indices[r]), kShape, opts.augment, augmentation_key(17, 2, b.indices[r]),
                     expect.data());
      ASSERT_EQ(0, std::memcmp(expect.data(), b.images[static_cast<int64_t>(r)].data_ptr<float>(),
                               expect.size() * sizeof(float)));
    }
  opts.epoch = 3;
  Loader next_epoch(ds, indices, opts);
  EXPECT_FALSE(at::equal(next_epoch.next()->images, batches[0].images)) << "a new epoch draws new augmentations";
}

// Counts get() calls; sleeps in each so that workers are mid-batch when the test acts.
class SlowDataset : public MemoryDataset {
 public:
  SlowDataset(size_t n, std::chrono::microseconds delay) : MemoryDataset(n, kShape), delay_(delay) {}
  int64_t get(size_t i, uint8_t* out) const override {
    ++gets;
    std::this_thread::sleep_for(delay_);
    return MemoryDataset::get(i, out);
  }
  mutable std::atomic<size_t> gets{0};

 private:
  std::chrono::microseconds delay_;
};

TEST(Loader, PrefetchBoundsWorkAheadOfTheConsumer) {
  SlowDataset ds(1000, std::chrono::microseconds(10));
  auto opts = options(10, 4, true);
  opts.prefetch = 2;
  Loader loader(ds, shuffled(1000), opts);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(ds.gets.load(), 2u * 10u) << "only `prefetch` batches may be made before the consumer asks";
  ASSERT_TRUE(loader.next().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LE(ds.gets.load(), 3u * 10u);
}

TEST(Loader, EarlyDestructionDoesNotHang) {
  SlowDataset ds(100000, std::chrono::microseconds(200));
  // A deadlocked destructor must fail the test rather than hang the suite.
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 300 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!done) {
      std::fprintf(stderr, "Loader destructor hung for 30 s\n");
      std::abort();
    }
  });
  const auto start = std::chrono::steady_clock::now();
  {
    Loader loader(ds, shuffled(100000), options(64, 4, true));
    EXPECT_TRUE(loader.next().has_value());
  }
  { Loader untouched(ds, shuffled(100000), options(64, 4, true)); }
  {
    SlowDataset failing(100000, std::chrono::microseconds(200));
    failing.fail_on = [](size_t i) { return i % 1000 == 999; };
    Loader failed(failing, shuffled(100000), options(64, 3, true));
    EXPECT_THROW(while (failed.next()) {}, DataError);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  done = true;
  watchdog.join();
  // A full pass would take minutes; a stop abandons half-made batches within a record or two.
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(Loader, RejectsOutOfRangeIndicesAndZeroBatch) {
  MemoryDataset ds(10, kShape);
  EXPECT_THROW(Loader(ds, {1, 2, 10}, options(2, 1, true)), Error);
  EXPECT_THROW(Loader(ds, {1, 2}, options(0, 1, true)), UsageError);
}

TEST(Loader, EmptyPass) {
  MemoryDataset ds(10, kShape);
  Loader loader(ds, {1, 2, 3}, options(8, 2, true));
  EXPECT_EQ(loader.num_batches(), 0u);
  EXPECT_FALSE(loader.next().has_value());
}

}  // namespace
}  // namespace kiln::data
