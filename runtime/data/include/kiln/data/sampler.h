// Distributed sampler: a seeded permutation per epoch, split across (rank, world_size) exactly like PyTorch's
// DistributedSampler (pad by wrapping, or drop the tail, so every rank gets the same number of samples).
#pragma once
#include <cstdint>
#include <vector>

namespace kiln::data {

class DistributedSampler {
 public:
  DistributedSampler(size_t dataset_size, int rank, int world_size, uint64_t seed, bool shuffle, bool drop_last);
  void set_epoch(int64_t epoch);
  int64_t epoch() const { return epoch_; }
  // This rank's indices for the current epoch (deterministic function of seed, epoch, rank, world_size).
  std::vector<size_t> indices() const { return indices(0); }
  // The same after the first `consumed` positions of the epoch's global order (the samples of every rank's first
  // consumed / world_size indices): where an epoch resumes after a mid-epoch checkpoint. The ranks split what is left
  // as they split a whole epoch, so on the same world size each rank gets the tail of its own indices(), and on
  // another world size the epoch still sees each remaining sample once (up to this world's padding).
  std::vector<size_t> indices(size_t consumed) const;
  size_t num_samples() const;  // per rank
  size_t total_size() const;   // num_samples * world_size
  int rank() const { return rank_; }
  int world_size() const { return world_; }

 private:
  size_t n_;
  int rank_, world_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  int64_t epoch_ = 0;
};

}  // namespace kiln::data
