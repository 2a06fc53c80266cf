// Batches are built by an OrderedPrefetcher (prefetch.h): worker threads, strictly ordered delivery, bounded
// read-ahead.
#include "kiln/data/loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "kiln/common/error.h"

namespace kiln::data {

Loader::Loader(const Dataset& ds, std::vector<size_t> indices, LoaderOptions opts)
    : ds_(ds), indices_(std::move(indices)), opts_(std::move(opts)) {
  if (opts_.batch_size == 0) throw UsageError("loader: batch_size must be at least 1");
  validate_augmentation(opts_.augment, ds_.shape().channels);
  for (size_t i : indices_)
    if (i >= ds_.size())
      throw Error("loader: index " + std::to_string(i) + " is out of range for a dataset of " +
                  std::to_string(ds_.size()) + " records");
  num_batches_ = opts_.drop_last ? indices_.size() / opts_.batch_size
                                 : (indices_.size() + opts_.batch_size - 1) / opts_.batch_size;
  batches_ = std::make_unique<OrderedPrefetcher<Batch>>(
      num_batches_, opts_.num_workers, opts_.prefetch,
      [this](size_t b, const std::atomic<bool>& stopping) { return make_batch(b, stopping); });
}

Loader::~Loader() = default;

std::optional<Batch> Loader::next() { return batches_->next(); }

Batch Loader::make_batch(size_t b, const std::atomic<bool>& stopping) const {
  const size_t begin = b * opts_.batch_size;
  const size_t n = std::min(opts_.batch_size, indices_.size() - begin);
  const ImageShape s = ds_.shape();
  Batch batch;
  batch.images = at::empty({static_cast<int64_t>(n), s.channels, s.height, s.width}, at::kFloat);
  batch.labels = at::empty({static_cast<int64_t>(n)}, at::kLong);
  batch.indices.assign(indices_.begin() + static_cast<std::ptrdiff_t>(begin),
                       indices_.begin() + static_cast<std::ptrdiff_t>(begin + n));
  float* images = batch.images.data_ptr<float>();
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  thread_local std::vector<uint8_t> pixels;
  pixels.resize(s.bytes());
  const int64_t num_classes = ds_.num_classes();
  for (size_t r = 0; r < n; ++r) {
    if (stopping.load(std::memory_order_relaxed)) break;  // the batch will be discarded anyway
    const size_t idx = batch.indices[r];
    const int64_t label = ds_.get(idx, pixels.data());
    if (label < 0 || label >= num_classes)
      throw DataError(ds_.describe(idx) + ": label " + std::to_string(label) + " is outside the " +
                      std::to_string(num_classes) + " classes");
    labels[r] = label;
    augment_record(pixels.data(), s, opts_.augment, augmentation_key(opts_.seed, opts_.epoch, idx),
                   images + r * s.bytes());
  }
  return batch;
}

}  // namespace kiln::data
