// Synthetic KITTI detection data (docs/synth_kitti.md): Fashion-MNIST items composited at random scales and
// positions onto textured, noisy backgrounds, written as RGB PNG images and 15-field KITTI label files.
// `kiln dataset synth_kitti` is the command line over generate_synth_kitti().
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kiln/detection/kitti.h"

namespace kiln::detection {

// Fashion-MNIST's ten classes in label order, as KITTI type names.
inline constexpr std::array<const char*, 10> kSynthClasses = {"t_shirt", "trouser", "pullover", "dress", "coat",
                                                              "sandal",  "shirt",   "sneaker",  "bag",   "ankle_boot"};

// One rendered scene, handed to SynthOptions::on_scene before its files are written (tests inspect the pixels).
struct SynthScene {
  std::string split;  // "train" or "val"
  int index = 0;      // file stem within the split: 000000, 000001, ...
  int width = 0, height = 0;
  const uint8_t* rgb = nullptr;         // width*height*3, row-major: the image as written
  const uint8_t* background = nullptr;  // the same scene before any object was drawn
  const std::vector<KittiObject>* objects = nullptr;
};

struct SynthOptions {
  std::string output_dir;  // must not exist or be an empty directory
  int images = 0;          // scenes in all, train + val
  uint64_t seed = 0;
  int width = 160, height = 160;  // 32..4096 each
  int min_objects = 1, max_objects = 5;  // per scene, 0 <= min <= max, 1 <= max <= 50
  double val_fraction = 0.1;  // [0, 1): round(images * val_fraction) scenes go to val (at most images - 1)
  std::string source_dir = "/usr/share/datasets/fashion-mnist";  // train-* (train split) and t10k-* (val) IDX files
  int progress_every = 1000;  // log::info a progress line every this many scenes (0: none)
  std::function<void(const SynthScene&)> on_scene;  // optional
};

struct SynthSplitSummary {
  int images = 0;
  int objects = 0;
  int occluded = 0;  // objects with KITTI occluded = 1
  std::array<int, kSynthClasses.size()> per_class{};
};

struct SynthSummary {
  std::string output_dir;
  SynthSplitSummary train, val;
  double seconds = 0;
};

// "WxH" (e.g. "160x160") -> {W, H}; kiln::UsageError for anything else or a side outside 32..4096.
std::array<int, 2> parse_image_size(const std::string& text);

// Generates the dataset: output_dir/{train,val}/{images,labels}/NNNNNN.{png,txt}, classes.txt, summary.json.
// The same options (seed included) give byte-identical files. Throws kiln::UsageError for bad options (nothing is
// written) or a non-empty output directory, kiln::DataError for missing/corrupt Fashion-MNIST files.
SynthSummary generate_synth_kitti(const SynthOptions& options);

// A per-class table of object counts per split (train, val, total), images and objects, for the terminal.
std::string format_synth_summary(const SynthSummary& summary);

}  // namespace kiln::detection
