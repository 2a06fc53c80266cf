// Internal to kiln_runtime: the inputs of classification inference (inference_inputs.cpp) as run_inference()
// (inference.cpp) uses them — the listing of -i, IDX images read into memory, and the inputs as a data::Dataset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/runtime/annotate.h"
#include "kiln/data/dataset.h"
#include "kiln/runtime/inference.h"

namespace kiln::runtime::detail {

struct IdxImages;  // an IDX images file, read whole and checked

struct InputSet {
  std::vector<InferenceItem> items;
  std::shared_ptr<const IdxImages> idx;  // set for an IDX input
};

// The inputs of -i in output order (list_inference_inputs() describes the rules); an IDX file is read and checked.
// UsageError for an empty -i, DataError naming the path for anything wrong with it.
InputSet open_inputs(const std::string& input, const std::string& exclude_dir);

// The inputs as a Dataset, so the evaluation loader (worker threads, prefetch, the normalisation) does the work.
// Labels are not known: get() returns 0 (the loader wants a valid class; nothing reads it). Image files are
// decoded as stb does for evaluation's image folders, without resizing: an image of another size than `shape` is
// a DataError naming it.
class InferenceDataset final : public data::Dataset {
 public:
  // DataError when the IDX images are not of `shape`'s height and width.
  InferenceDataset(InputSet inputs, data::ImageShape shape, std::vector<std::string> names);

  size_t size() const override { return items_.size(); }
  data::ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return names_; }
  std::string describe(size_t i) const override {
    return i < items_.size() ? items_[i].column : "input " + std::to_string(i);
  }
  const InferenceItem& item(size_t i) const { return items_.at(i); }
  const std::vector<InferenceItem>& items() const { return items_; }

  int64_t get(size_t i, uint8_t* pixels) const override;
  // The input in colour, for its annotated copy.
  RgbImage rgb(size_t i) const;

 private:
  void check_size(const std::string& path, int height, int width) const;

  std::vector<InferenceItem> items_;
  std::shared_ptr<const IdxImages> idx_;
  data::ImageShape shape_;
  std::vector<std::string> names_;
};

}  // namespace kiln::runtime::detail
