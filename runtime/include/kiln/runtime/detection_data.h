// DetectNet_v2's data in training and evaluation (docs/detection.md): shard folds written by
// `detectnet_v2 dataset_convert`, their classes mapped by name onto the spec's target classes, and a loader that
// prepares samples (augment.h) and rasterises their targets (rasterize.h) on worker threads.
#pragma once
#include <ATen/Tensor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/detection/augment.h"
#include "kiln/detection/rasterize.h"
#include "kiln/detection/shards.h"
#include "kiln/data/prefetch.h"

namespace kiln::runtime {

struct DetectionSource;
struct DetectnetConfig;

// The records of one or more shard folds, read as one indexable set.
class DetectionData {
 public:
  explicit DetectionData(std::vector<std::string> target_classes);

  // Adds fold `fold` of `dir`. `mapping` maps the shards' class names (lower-case) to target classes; empty maps
  // every name to itself. Objects of other classes are left out (counted in ignored_objects()).
  void add(const std::string& dir, int fold, const std::map<std::string, std::string>& mapping = {});

  size_t size() const { return total_; }
  const std::vector<std::string>& target_classes() const { return targets_; }
  detection::DetectionRecord read(size_t i) const;
  const std::vector<int>& class_map(size_t i) const;  // shard class id → target class id (−1: left out)
  // Objects per target class over everything added, from the folds' index.json counts.
  const std::vector<uint64_t>& objects_per_class() const { return objects_; }
  const std::map<std::string, uint64_t>& ignored_objects() const { return ignored_; }
  // DataError naming `what` (e.g. "dataset_config.data_sources") and every target class without a single object:
  // a class with nothing to learn from would only show up much later as an AP of 0.
  void require_objects_of_every_class(const std::string& what) const;
  std::string describe() const;  // "4,500 images from data/shards (fold 1)"

 private:
  struct Part {
    std::string dir;
    int fold;
    std::unique_ptr<detection::DetectionShardSet> set;
    std::vector<int> class_map;
    size_t start;
  };
  std::vector<std::string> targets_;
  std::vector<Part> parts_;
  size_t total_ = 0;
  std::vector<uint64_t> objects_;
  std::map<std::string, uint64_t> ignored_;
};

// The folds of `sources` that they select (DetectionSource::fold / except_fold), with the config's target classes and
// class mapping. Reads each folder's index.json (DataError when it is missing or bad).
DetectionData open_detection_data(const DetectnetConfig& cfg, const std::vector<DetectionSource>& sources);

struct DetectionBatch {
  at::Tensor images;    // float32 [N, C, H, W] in [0, 1]
  at::Tensor cov;       // [N, classes, h, w]
  at::Tensor bbox;      // [N, 4·classes, h, w]
  at::Tensor cov_norm;  // [N, classes, h, w]
  std::vector<std::vector<detection::TargetBox>> boxes;  // per image, output pixels (for evaluation)
  std::vector<size_t> indices;
};

struct DetectionLoaderOptions {
  size_t batch_size = 8;
  int num_workers = 2;
  size_t prefetch = 4;
  bool drop_last = true;
  bool train = true;  // augmentation on (spatial + colour); off: the plain resize
  uint64_t seed = 0;
  int64_t epoch = 0;  // mixed into the augmentation keys
  detection::AugmentConfig augment;
  detection::RasterizerConfig grid;  // input size must equal the preprocessing output size
};

// One pass over `indices` of `data`, batches in order (OrderedPrefetcher). Worker errors (DataError naming the
// record) are rethrown from next().
class DetectionLoader {
 public:
  DetectionLoader(const DetectionData& data, std::vector<size_t> indices, DetectionLoaderOptions opts);
  size_t num_batches() const { return num_batches_; }
  std::optional<DetectionBatch> next() { return batches_->next(); }

 private:
  DetectionBatch make_batch(size_t b, const std::atomic<bool>& stopping) const;
  const DetectionData& data_;
  std::vector<size_t> indices_;
  DetectionLoaderOptions opts_;
  size_t num_batches_ = 0;
  std::unique_ptr<data::OrderedPrefetcher<DetectionBatch>> batches_;  // last: its workers use everything above
};

}  // namespace kiln::runtime
