// Worker threads claim batch numbers in order under the lock, build the batch outside it, and park it in ready_
// (a reorder buffer); next() hands batches out strictly in order. Claims never run more than `prefetch` batches
// ahead of the consumer, which bounds memory and keeps an early-destroyed loader from doing much wasted work.
#include "kiln/runtime/loader.h"

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
  opts_.prefetch = std::max<size_t>(opts_.prefetch, 1);
  num_batches_ = opts_.drop_last ? indices_.size() / opts_.batch_size
                                 : (indices_.size() + opts_.batch_size - 1) / opts_.batch_size;
  const size_t threads = std::min<size_t>(static_cast<size_t>(std::max(opts_.num_workers, 0)), num_batches_);
  for (size_t t = 0; t < threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  stopping_ = true;
  cv_consumed_.notify_all();
  cv_produced_.notify_all();
  for (auto& t : workers_) t.join();
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  while (true) {
    cv_consumed_.wait(lk, [this] {
      return stop_ || next_to_produce_ >= std::min(num_batches_, error_batch_) ||
             next_to_produce_ < next_to_consume_ + opts_.prefetch;
    });
    if (stop_ || next_to_produce_ >= std::min(num_batches_, error_batch_)) return;
    const size_t b = next_to_produce_++;
    lk.unlock();
    Batch batch;
    std::exception_ptr err;
    try {
      batch = make_batch(b);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    if (err) {
      if (b < error_batch_) {
        error_batch_ = b;
        error_ = err;
      }
      cv_consumed_.notify_all();  // idle workers re-check: nothing past the failed batch is wanted
    } else if (b < error_batch_) {
      ready_.emplace(b, std::move(batch));
    }
    cv_produced_.notify_all();
  }
}

std::optional<Batch> Loader::next() {
  if (next_to_consume_ >= num_batches_) return std::nullopt;
  if (workers_.empty()) {
    Batch b = make_batch(next_to_consume_);
    ++next_to_consume_;
    return b;
  }
  std::unique_lock<std::mutex> lk(mu_);
  const size_t want = next_to_consume_;
  // Every batch before a failed one was claimed before it, so waiting for `want` < error_batch_ always ends.
  cv_produced_.wait(lk, [&] { return ready_.count(want) > 0 || error_batch_ <= want; });
  auto it = ready_.find(want);
  if (it == ready_.end()) std::rethrow_exception(error_);
  Batch b = std::move(it->second);
  ready_.erase(it);
  ++next_to_consume_;
  lk.unlock();
  cv_consumed_.notify_all();
  return b;
}

Batch Loader::make_batch(size_t b) const {
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
    if (stopping_.load(std::memory_order_relaxed)) break;  // the batch will be discarded anyway
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
