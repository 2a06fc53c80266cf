// The DetectNet_v2 schemas (detectnet_v2.h). TAO's dataset_export_spec keys (tao-specs.md §4), with kiln's
// additions marked in their docs.
#include "kiln/specs/detectnet_v2.h"

#include <cctype>

namespace kiln::specs {
namespace {

Field kitti_config() {
  Field num_partitions = integer("num_partitions", 2,
                                 "Folds of the random partition: 2 = fold 0 is the validation fold (val_split percent "
                                 "of the images), fold 1 the rest; 1 = one fold, no validation split.",
                                 1, 2);
  return group(
      "kitti_config",
      {required(path("root_directory_path", "The KITTI dataset root (holds image_dir_name and label_dir_name).")),
       string("image_dir_name", std::string("images"), "Images folder, relative to root_directory_path."),
       string("label_dir_name", std::string("labels"), "Labels folder (one .txt per image), relative to the root."),
       string("image_extension", std::string(".png"), "Image file extension, with the dot: .png, .jpg or .jpeg."),
       enumeration("partition_mode", {"random"}, std::string("random"),
                   "How images are split into folds. kiln implements random (TAO's sequence mode is not supported)."),
       num_partitions,
       real("val_split", 10.0, "Percent of the images (the first, sorted by name) in validation fold 0.", 0, 100),
       integer("num_shards", 4, "Shard files per fold (0 means 1).", 0, 4096),
       integer("random_seed", 42, "Seed of the within-fold shuffle (kiln; TAO fixes 42).", 0, 2147483647)},
      "The KITTI source (TAO's kitti_config).");
}

std::string check_extension(const Value& v) {
  std::string e = std::get<std::string>(v);
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return (e == ".png" || e == ".jpg" || e == ".jpeg") ? "" : "must be .png, .jpg or .jpeg, got '" + e + "'";
}

}  // namespace

const Schema& detectnet_v2_convert_schema() {
  static const Schema schema = [] {
    Field kitti = kitti_config();
    for (Field& f : kitti.children)
      if (f.name == "image_extension") f.check = check_extension;
    return Schema{"detectnet_v2_convert",
                  {kitti, string_map("target_class_mapping",
                                     "Source class (lower-cased KITTI type) → training class. Objects of classes "
                                     "not listed are left out and counted. Empty: every class maps to itself.")}};
  }();
  return schema;
}

}  // namespace kiln::specs
