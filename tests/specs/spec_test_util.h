// Shared by the specs tests: a temp directory, a small schema with every field type, and issue capture.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::specs::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kiln_specs_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `text` to path()/name (creating folders) and returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = std::filesystem::path(path_) / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }

 private:
  std::string path_;
};

// Exercises every field type: leaves with ranges, lists, a OneOf, paths, a required group, an optional group.
inline const Schema& test_schema() {
  static const Schema schema = [] {
    Field layers = integer("layers", 18, "Depth.", 1, 100);
    layers.check = [](const Value& v) { return std::get<int64_t>(v) % 2 ? "must be even" : ""; };
    Field mean = float_list("mean", {0.5}, "Mean.", 0, 1);
    mean.min_len = 1;
    mean.max_len = 3;
    Field tags;
    tags.name = "tags";
    tags.type = Type::kStringList;
    tags.default_value = Value(std::vector<std::string>{"a"});
    Field lr = real("lr", 0.1, "Learning rate.", 0, 10);
    lr.exclusive_min = true;
    Field data_source =
        group("train", {required(string("root", std::nullopt, "Root.")), integer("limit", 0, "Limit.", 0, 100)});
    Field val_source = data_source;
    val_source.name = "val";
    data_source.required = true;
    return Schema{
        "test",
        {required(group("model", {required(enumeration("arch", {"lenet5", "resnet"}, std::nullopt, "Arch.")), layers,
                                  real("dropout", 0.0, "Dropout.", 0, 0.9), boolean("bn", true, "BN."),
                                  string("size", std::string("1,28,28"), "Size."),
                                  int_list("freeze", {}, "Frozen blocks.", 0, 4), mean, tags})),
         group("train",
               {integer("batch", 64, "Batch.", 1, 1024), lr, path("weights", "Weights."),
                path("output", "Output.", false),
                one_of("optimizer",
                       {group("sgd", {real("momentum", 0.9, "Momentum.", 0, 1), boolean("nesterov", false, "N.")}),
                        group("adam",
                              {real("beta_1", 0.9, "Beta 1.", 0, 1), real("epsilon", 1e-7, "Epsilon.", 1e-12, 1)})},
                       "sgd"),
                group("reg", {real("weight_decay", 5e-4, "Decay.", 0, 1)})}),
         required(group("data", {data_source, val_source}))}};
  }();
  return schema;
}

// The smallest spec test_schema() accepts.
inline const char* kMinimal = "model:\n  arch: lenet5\ndata:\n  train:\n    root: r\n";

// The issue lines of the SpecError that `load` throws (a test failure if it throws nothing).
template <typename F>
std::vector<std::string> issues_of(F&& load) {
  std::vector<std::string> lines;
  try {
    load();
    ADD_FAILURE() << "expected a SpecError";
  } catch (const SpecError& e) {
    for (const auto& issue : e.issues()) lines.push_back(issue.str());
  }
  return lines;
}

}  // namespace kiln::specs::testing
