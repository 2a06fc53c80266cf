// Datasets of fixed-size uint8 images with integer labels. Every source (IDX, image folder, kiln shards) presents
// the same random-access interface; errors name the file and record (kiln::DataError, exit 3).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln::data {

struct ImageShape {
  int channels = 1, height = 0, width = 0;
  size_t bytes() const { return static_cast<size_t>(channels) * height * width; }
  std::string str() const;  // "C,H,W"
  bool operator==(const ImageShape& o) const {
    return channels == o.channels && height == o.height && width == o.width;
  }
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  virtual ImageShape shape() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;  // index = label
  // Copies record i as CHW uint8 (shape().bytes() bytes) into `pixels` and returns its label.
  // Thread-safe (called concurrently by loader workers). Throws DataError naming the file/record.
  virtual int64_t get(size_t i, uint8_t* pixels) const = 0;
  // Human-readable origin of record i for error messages and inference output (file path or "file#index").
  virtual std::string describe(size_t i) const = 0;
  int num_classes() const { return static_cast<int>(class_names().size()); }
};

// Fashion-MNIST/MNIST IDX pair (gzip or raw). `limit` > 0 keeps the first `limit` records.
// Class names: Fashion-MNIST's when there are 10 classes and `fashion` is true, else "0".."9".
std::unique_ptr<Dataset> open_idx(const std::string& images_path, const std::string& labels_path, size_t limit = 0,
                                  bool fashion_names = true);

// One sub-folder per class (alphabetical order = label index, as TAO), PNG/JPEG files inside. Channels are converted
// (grey↔RGB); an image of another height or width is resized to `expected` as it is read (tent filter: bilinear when
// enlarging, area-weighted when shrinking), or with `resize` false is a DataError naming the file and both sizes.
// A zero height or width in `expected` means the first image's size.
std::unique_ptr<Dataset> open_image_folder(const std::string& root, const ImageShape& expected, size_t limit = 0,
                                           bool resize = true);

// kiln shards written by write_shards(): reads `dir/index.json`, verifies each record's CRC32 on read.
std::unique_ptr<Dataset> open_shards(const std::string& dir, size_t limit = 0);

// Writes `ds` as `num_shards` shard files plus index.json into `out_dir` (created; existing shards of the same
// name are replaced atomically). `progress(done, total)` is called now and then. Returns the number of records.
size_t write_shards(const Dataset& ds, const std::string& out_dir, int num_shards,
                    const std::function<void(size_t, size_t)>& progress = {});

// IDX writer (gzip when path ends in .gz) — used by tests and tools to make small datasets.
void write_idx_images(const std::string& path, const std::vector<uint8_t>& pixels, size_t n, int h, int w);
void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels);

}  // namespace kiln::data
