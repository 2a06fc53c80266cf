// Helpers shared by the data tests: a scratch directory removed afterwards, an in-memory dataset with a fault
// injection seam, and a check that a callable throws DataError mentioning given text.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "kiln/common/error.h"
#include "kiln/data/dataset.h"

namespace kiln::data::test {

class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("kiln_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Records whose pixels are a deterministic function of (index, position); label = index % classes.
class MemoryDataset : public Dataset {
 public:
  MemoryDataset(size_t n, ImageShape shape, int classes = 10) : shape_(shape) {
    for (int c = 0; c < classes; ++c) names_.push_back("class" + std::to_string(c));
    pixels_.resize(n * shape.bytes());
    for (size_t i = 0; i < pixels_.size(); ++i) pixels_[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
    for (size_t i = 0; i < n; ++i) labels_.push_back(static_cast<int64_t>(i % static_cast<size_t>(classes)));
  }
  size_t size() const override { return labels_.size(); }
  ImageShape shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return names_; }
  int64_t get(size_t i, uint8_t* out) const override {
    if (fail_on && fail_on(i)) throw DataError(describe(i) + ": injected failure");
    std::memcpy(out, pixels_.data() + i * shape_.bytes(), shape_.bytes());
    return labels_[i];
  }
  std::string describe(size_t i) const override { return "memory#" + std::to_string(i); }
  const uint8_t* record(size_t i) const { return pixels_.data() + i * shape_.bytes(); }

  std::function<bool(size_t)> fail_on;  // fault injection: get(i) throws when it returns true

 private:
  ImageShape shape_;
  std::vector<std::string> names_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs `f`, expects a DataError, and returns its message for further checks.
template <typename F>
std::string data_error_of(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    EXPECT_EQ(e.code(), ExitCode::kData);
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected DataError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected DataError, nothing was thrown";
  return {};
}

}  // namespace kiln::data::test
