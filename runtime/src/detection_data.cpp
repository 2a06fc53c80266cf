// Detection data: shard folds mapped onto target classes, and the batch loader (detection_data.h).
#include "kiln/runtime/detection_data.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "kiln/common/hash.h"
#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/runtime/detectnet_config.h"

namespace kiln::runtime {

namespace kd = kiln::detection;

DetectionData::DetectionData(std::vector<std::string> target_classes) : targets_(std::move(target_classes)) {
  if (targets_.empty()) throw UsageError("detection data: no target classes");
  objects_.assign(targets_.size(), 0);
}

void DetectionData::add(const std::string& dir, int fold, const std::map<std::string, std::string>& mapping) {
  Part p{dir, fold, std::make_unique<kd::DetectionShardSet>(dir, fold), {}, total_};
  const kd::DetectionIndex& index = p.set->index();
  auto target_of = [&](const std::string& name) -> int {
    std::string t = name;
    if (!mapping.empty()) {
      const auto m = mapping.find(name);
      if (m == mapping.end()) return -1;
      t = m->second;
    }
    const auto it = std::find(targets_.begin(), targets_.end(), t);
    return it == targets_.end() ? -1 : static_cast<int>(it - targets_.begin());
  };
  for (const std::string& name : index.classes) p.class_map.push_back(target_of(name));
  for (const auto& [name, count] : index.folds[static_cast<size_t>(fold)].objects) {
    const int t = target_of(name);
    if (t >= 0)
      objects_[static_cast<size_t>(t)] += count;
    else
      ignored_[name] += count;
  }
  total_ += p.set->size();
  parts_.push_back(std::move(p));
}

namespace {
template <typename Parts>
size_t part_of(const Parts& parts, size_t i) {
  const auto it = std::upper_bound(parts.begin(), parts.end(), i,
                                   [](size_t v, const auto& p) { return v < p.start; });
  return static_cast<size_t>(it - parts.begin()) - 1;
}
}  // namespace

kd::DetectionRecord DetectionData::read(size_t i) const {
  if (i >= total_) throw Error(log::cat("detection data: record ", i, " out of range (", total_, ")"));
  const Part& p = parts_[part_of(parts_, i)];
  return p.set->read(i - p.start);
}

DetectionData open_detection_data(const DetectnetConfig& cfg, const std::vector<DetectionSource>& sources) {
  DetectionData data(cfg.classes);
  for (const DetectionSource& src : sources) {
    const kd::DetectionIndex index = kd::read_detection_index(src.shards);
    for (int f = 0; f < static_cast<int>(index.folds.size()); ++f) {
      if ((src.fold >= 0 && f != src.fold) || f == src.except_fold) continue;
      data.add(src.shards, f, cfg.class_mapping);
    }
  }
  return data;
}

const std::vector<int>& DetectionData::class_map(size_t i) const { return parts_[part_of(parts_, i)].class_map; }

void DetectionData::require_objects_of_every_class(const std::string& what) const {
  std::vector<std::string> empty;
  for (size_t c = 0; c < targets_.size(); ++c)
    if (objects_[c] == 0) empty.push_back(targets_[c]);
  if (empty.empty()) return;
  std::string list, seen;
  for (const auto& e : empty) list += (list.empty() ? "" : ", ") + e;
  for (const auto& [name, n] : ignored_) seen += log::cat(seen.empty() ? "" : ", ", name, " (", n, ")");
  throw DataError(log::cat(what, ": no objects of target class(es) ", list, " in ", describe(),
                           seen.empty() ? std::string() : "; objects left out by the class mapping: " + seen,
                           " (check target_class_mapping and cost_function_config.target_classes)"));
}

std::string DetectionData::describe() const {
  std::string s;
  for (const Part& p : parts_) s += log::cat(s.empty() ? "" : ", ", p.dir, " (fold ", p.fold, ")");
  return log::cat(total_, " images from ", s.empty() ? "nothing" : s);
}

DetectionLoader::DetectionLoader(const DetectionData& data, std::vector<size_t> indices, DetectionLoaderOptions opts)
    : data_(data), indices_(std::move(indices)), opts_(std::move(opts)) {
  if (opts_.batch_size == 0) throw UsageError("detection loader: batch_size must be at least 1");
  opts_.augment.validate();
  opts_.grid.validate();
  if (opts_.grid.input_width != opts_.augment.preprocessing.output_width ||
      opts_.grid.input_height != opts_.augment.preprocessing.output_height)
    throw Error(log::cat("detection loader: the grid's input ", opts_.grid.input_width, "x", opts_.grid.input_height,
                         " differs from the preprocessed image size"));
  if (opts_.grid.classes.size() != data_.target_classes().size())
    throw Error("detection loader: the grid's class count differs from the data's");
  for (size_t i : indices_)
    if (i >= data_.size()) throw Error(log::cat("detection loader: index ", i, " out of range (", data_.size(), ")"));
  num_batches_ = opts_.drop_last ? indices_.size() / opts_.batch_size
                                 : (indices_.size() + opts_.batch_size - 1) / opts_.batch_size;
  batches_ = std::make_unique<data::OrderedPrefetcher<DetectionBatch>>(
      num_batches_, opts_.num_workers, opts_.prefetch,
      [this](size_t b, const std::atomic<bool>& stopping) { return make_batch(b, stopping); });
}

DetectionBatch DetectionLoader::make_batch(size_t b, const std::atomic<bool>& stopping) const {
  const size_t begin = b * opts_.batch_size, n = std::min(opts_.batch_size, indices_.size() - begin);
  const auto& pre = opts_.augment.preprocessing;
  const auto& g = opts_.grid;
  const int64_t N = static_cast<int64_t>(n), C = static_cast<int64_t>(g.classes.size());
  DetectionBatch batch;
  batch.images = at::empty({N, pre.output_channels, pre.output_height, pre.output_width}, at::kFloat);
  batch.cov = at::empty({N, C, g.output_height, g.output_width}, at::kFloat);
  batch.bbox = at::empty({N, 4 * C, g.output_height, g.output_width}, at::kFloat);
  batch.cov_norm = at::empty({N, C, g.output_height, g.output_width}, at::kFloat);
  batch.indices.assign(indices_.begin() + static_cast<std::ptrdiff_t>(begin),
                       indices_.begin() + static_cast<std::ptrdiff_t>(begin + n));
  batch.boxes.resize(n);
  const size_t image_elems = static_cast<size_t>(batch.images[0].numel());
  const size_t grid_elems = static_cast<size_t>(C * g.output_height * g.output_width);
  for (size_t r = 0; r < n; ++r) {
    if (stopping.load(std::memory_order_relaxed)) break;  // the batch will be discarded anyway
    const size_t idx = batch.indices[r];
    const uint64_t key = bytes::sample_key(opts_.seed, opts_.epoch, idx);
    kd::PreparedSample s = kd::prepare_sample(data_.read(idx), data_.class_map(idx), opts_.augment, key, opts_.train);
    std::copy(s.image.begin(), s.image.end(), batch.images.data_ptr<float>() + r * image_elems);
    kd::rasterize(g, s.boxes, batch.cov.data_ptr<float>() + r * grid_elems,
                  batch.bbox.data_ptr<float>() + r * 4 * grid_elems, batch.cov_norm.data_ptr<float>() + r * grid_elems);
    batch.boxes[r] = std::move(s.boxes);
  }
  return batch;
}

}  // namespace kiln::runtime
