// Batches from a Dataset: worker threads decode + augment records into batch tensors, a bounded prefetch queue hands
// them to the training loop in sampler order. Augmentation randomness is a pure function of (seed, epoch, sample
// index), so results do not depend on thread scheduling and a resumed run sees the same augmentations.
#pragma once
#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kiln/data/dataset.h"
#include "kiln/data/prefetch.h"

namespace kiln::data {

struct Augmentation {
  bool random_crop = false;  // pad by crop_padding (zeros) then crop back to H×W at a random offset
  int crop_padding = 4;
  bool horizontal_flip = false;  // with probability 0.5
  std::vector<float> mean{0.f}, std{1.f};  // per channel, applied to x/255
};

struct Batch {
  at::Tensor images;  // float32 [N, C, H, W], normalised
  at::Tensor labels;  // int64 [N]
  std::vector<size_t> indices;  // dataset indices of the rows
};

struct LoaderOptions {
  size_t batch_size = 64;
  int num_workers = 2;     // 0 = load in the calling thread
  size_t prefetch = 4;     // batches ready ahead of the consumer (bounded queue)
  bool drop_last = true;   // drop a final partial batch
  uint64_t seed = 0;
  int64_t epoch = 0;       // mixed into augmentation randomness
  Augmentation augment;
};

// One pass over `indices` (typically DistributedSampler::indices()). Construct per epoch; iterate with next().
// Worker exceptions (DataError naming the record) are rethrown from next() on the consumer thread.
class Loader {
 public:
  Loader(const Dataset& ds, std::vector<size_t> indices, LoaderOptions opts);
  ~Loader();  // stops and joins workers
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  size_t num_batches() const { return num_batches_; }
  std::optional<Batch> next();  // empty when the pass is over

 private:
  Batch make_batch(size_t b, const std::atomic<bool>& stopping) const;

  const Dataset& ds_;
  std::vector<size_t> indices_;
  LoaderOptions opts_;
  size_t num_batches_ = 0;
  std::unique_ptr<OrderedPrefetcher<Batch>> batches_;  // last: its workers use everything above
};

// Applies `aug` to one CHW uint8 record, writing normalised floats to `out` (C*H*W). `rng_key` selects the random
// choices (crop offset, flip) deterministically.
void augment_record(const uint8_t* pixels, const ImageShape& shape, const Augmentation& aug, uint64_t rng_key,
                    float* out);

// The rng_key the loader gives dataset record `index` in `epoch` (a mixing hash of the three; docs/formats.md).
uint64_t augmentation_key(uint64_t seed, int64_t epoch, size_t index);

// Throws UsageError unless mean/std have 1 or `channels` values, std > 0 and crop_padding >= 0.
// The Loader constructor calls it; augment_record itself does not check (it is the per-sample hot path).
void validate_augmentation(const Augmentation& aug, int channels);

}  // namespace kiln::data
