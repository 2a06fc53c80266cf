// Training and validation must share their classes: a validation set with other classes is a data error that names
// both sources, not a silently meaningless accuracy.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "kiln/common/error.h"
#include "kiln/data/dataset.h"
#include "kiln/runtime/experiment.h"

namespace fs = std::filesystem;
using namespace kiln::runtime;

namespace {

// An IDX pair of 2×2 images with `labels`, in `dir`/<name>-{images,labels}.
SourceConfig idx_source(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& labels) {
  SourceConfig src{"dataset_config." + name, "idx", (dir / (name + "-images")).string(),
                   (dir / (name + "-labels")).string(), "", 0};
  kiln::data::write_idx_images(src.images, std::vector<uint8_t>(labels.size() * 4, 7), labels.size(), 2, 2);
  kiln::data::write_idx_labels(src.labels, labels);
  return src;
}

TEST(DatasetClasses, ValidationWithOtherClassesThanTrainingIsADataError) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_classes_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const SourceConfig train = idx_source(dir, "train", {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const SourceConfig val = idx_source(dir, "val", {0, 1, 2, 9});
  const SourceConfig val_same = idx_source(dir, "val_same", {3, 10});
  const auto train_ds = open_source(train, {1, 2, 2});
  EXPECT_NO_THROW(check_validation_classes(*train_ds, train, *open_source(val_same, {1, 2, 2}), val_same));
  try {
    check_validation_classes(*train_ds, train, *open_source(val, {1, 2, 2}), val);
    ADD_FAILURE() << "expected a DataError";
  } catch (const kiln::DataError& e) {
    EXPECT_EQ(std::string(e.what()), "dataset_config.val (" + val.labels + ") and dataset_config.train (" +
                                         train.labels + ") have different classes: validation has 10 classes, " +
                                         "training 11");
  }
  fs::remove_all(dir);
}

}  // namespace
