// PyTorch's DistributedSampler, index for index, except for the permutation itself: torch.randperm's generator
// is not reproducible outside PyTorch, so the shuffle is Fisher–Yates driven by splitmix64 seeded with
// seed + epoch (the same key PyTorch uses). See docs/formats.md for the exact algorithm.
#include "kiln/data/sampler.h"

#include <numeric>
#include <string>

#include "kiln/common/hash.h"
#include "kiln/common/error.h"

namespace kiln::data {

DistributedSampler::DistributedSampler(size_t dataset_size, int rank, int world_size, uint64_t seed, bool shuffle,
                                       bool drop_last)
    : n_(dataset_size), rank_(rank), world_(world_size), seed_(seed), shuffle_(shuffle), drop_last_(drop_last) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw Error("DistributedSampler: rank " + std::to_string(rank) + " is not in [0, world_size=" +
                std::to_string(world_size) + ")");
}

void DistributedSampler::set_epoch(int64_t epoch) { epoch_ = epoch; }

size_t DistributedSampler::num_samples() const {
  const size_t w = static_cast<size_t>(world_);
  return drop_last_ ? n_ / w : (n_ + w - 1) / w;
}

size_t DistributedSampler::total_size() const { return num_samples() * static_cast<size_t>(world_); }

std::vector<size_t> DistributedSampler::indices(size_t consumed) const {
  std::vector<size_t> order(n_);
  std::iota(order.begin(), order.end(), size_t{0});
  if (shuffle_) {
    bytes::SplitMix64 rng(seed_ + static_cast<uint64_t>(epoch_));
    for (size_t i = n_; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  }
  const size_t total = total_size();
  const size_t per_rank = num_samples();
  std::vector<size_t> mine;
  mine.reserve(per_rank);
  // Position p of the padded (or truncated) global order is order[p % n]: padding repeats from the start.
  for (size_t p = consumed + static_cast<size_t>(rank_); p < total; p += static_cast<size_t>(world_))
    mine.push_back(order[p % n_]);
  return mine;
}

}  // namespace kiln::data
