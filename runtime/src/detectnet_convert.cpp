// detectnet_v2 dataset_convert (detectnet.h): KITTI folder → kiln detection shards.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/detection/image_io.h"
#include "kiln/detection/kitti.h"
#include "kiln/detection/shards.h"
#include "kiln/runtime/report.h"
#include "kiln/specs/detectnet_v2.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace {

namespace kd = kiln::detection;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Item {
  std::string image_path, label_path, name;  // name: relative to the root
  std::vector<kd::ShardObject> objects;      // class_id set once every class is known
  std::vector<std::string> object_classes;   // target class of each object
  kd::ImageInfo info;
};

// Fisher–Yates with our own draws: std::shuffle's sequence is implementation-defined, and the shard contents should
// not depend on the standard library.
template <typename T>
void seeded_shuffle(std::vector<T>& v, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(rng() % i)]);
}

std::vector<fs::path> list_images(const fs::path& dir, const std::string& extension) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(log::cat(dir.string(), ": images folder not found"));
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_regular_file(ec)) continue;
    if (lower(e.path().extension().string()) == lower(extension)) out.push_back(e.path());
  }
  if (ec) throw DataError(log::cat(dir.string(), ": cannot list: ", ec.message()));
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return a.filename().string() < b.filename().string();
  });
  return out;
}

std::string count_table(const std::vector<std::string>& classes, const std::vector<kd::FoldInfo>& folds,
                        const std::vector<std::string>& fold_names) {
  std::ostringstream t;
  size_t width = 5;
  for (const auto& c : classes) width = std::max(width, c.size());
  t << std::left << std::setw(static_cast<int>(width)) << "class";
  for (const auto& n : fold_names) t << std::right << std::setw(12) << n;
  t << std::right << std::setw(12) << "total" << "\n";
  auto row = [&](const std::string& label, auto value) {
    t << std::left << std::setw(static_cast<int>(width)) << label;
    uint64_t total = 0;
    for (size_t f = 0; f < folds.size(); ++f) {
      const uint64_t v = value(folds[f]);
      total += v;
      t << std::right << std::setw(12) << v;
    }
    t << std::right << std::setw(12) << total << "\n";
  };
  for (const auto& c : classes)
    row(c, [&](const kd::FoldInfo& f) { return f.objects.count(c) ? f.objects.at(c) : uint64_t{0}; });
  row("(images)", [](const kd::FoldInfo& f) { return f.images; });
  return t.str();
}

}  // namespace

void run_detectnet_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                           const std::string& out_dir) {
  const specs::Spec spec = specs::load_spec(specs::detectnet_v2_convert_schema(), convert_spec, overrides);
  if (out_dir.empty()) throw UsageError("dataset_convert needs an output directory: -o <dir>");
  const fs::path root = spec.get_string("kitti_config.root_directory_path");
  const fs::path image_dir = root / spec.get_string("kitti_config.image_dir_name");
  const fs::path label_dir = root / spec.get_string("kitti_config.label_dir_name");
  const std::string extension = spec.get_string("kitti_config.image_extension");
  const int partitions = static_cast<int>(spec.get_int("kitti_config.num_partitions"));
  const double val_split = spec.get_float("kitti_config.val_split");
  const int num_shards = std::max<int>(1, static_cast<int>(spec.get_int("kitti_config.num_shards")));
  const uint64_t seed = static_cast<uint64_t>(spec.get_int("kitti_config.random_seed"));
  std::map<std::string, std::string> mapping;
  for (const auto& [from, to] : spec.get_string_map("target_class_mapping")) {
    if (to.empty())
      throw specs::SpecError(
          {{spec.location("target_class_mapping." + from), "target_class_mapping." + from, "empty target class"}});
    mapping[lower(from)] = to;
  }

  // 1. Every image with its label file, every line checked against the image's size: all before writing anything.
  const std::vector<fs::path> images = list_images(image_dir, extension);
  if (images.empty())
    throw DataError(log::cat(image_dir.string(), ": no images with extension ", extension,
                             " (kitti_config.image_extension)"));
  log::info(log::cat("Reading ", images.size(), " images and their labels from ", root.string()));
  std::vector<Item> items;
  items.reserve(images.size());
  std::set<std::string> classes;
  std::map<std::string, uint64_t> ignored;
  {
    Progress progress("Checking labels", static_cast<int64_t>(images.size()), "image");
    for (const fs::path& img : images) {
      Item it;
      it.image_path = img.string();
      it.name = fs::relative(img, root).generic_string();
      it.label_path = (label_dir / img.stem()).string() + ".txt";
      if (!file_exists(it.label_path))
        throw DataError(log::cat(it.image_path, ": no label file ", it.label_path,
                                 " (every image needs one; an empty file means no objects)"));
      it.info = kd::probe_image(read_file(it.image_path), it.image_path);
      for (const kd::KittiObject& o : kd::read_kitti_labels(it.label_path, it.info.width, it.info.height)) {
        std::string target = o.type;
        if (!mapping.empty()) {
          const auto m = mapping.find(o.type);
          if (m == mapping.end()) {
            ++ignored[o.type];
            continue;
          }
          target = m->second;
        }
        classes.insert(target);
        kd::ShardObject so;
        so.box = o.box;
        so.truncated = o.truncated;
        so.occluded = o.occluded;
        it.objects.push_back(so);
        it.object_classes.push_back(target);
      }
      items.push_back(std::move(it));
      progress.update(static_cast<int64_t>(items.size()));
    }
    progress.finish();
  }
  const std::vector<std::string> class_list(classes.begin(), classes.end());
  if (class_list.empty())
    throw DataError(log::cat(label_dir.string(), ": no objects", ignored.empty() ? "" : " of a mapped class",
                             " in ", items.size(), " label files (check target_class_mapping)"));
  for (Item& it : items)
    for (size_t k = 0; k < it.objects.size(); ++k)
      it.objects[k].class_id = static_cast<int>(
          std::lower_bound(class_list.begin(), class_list.end(), it.object_classes[k]) - class_list.begin());

  // 2. Folds: TAO's random partition — the first val_split percent by name are fold 0 — then each fold shuffled.
  std::vector<std::vector<size_t>> folds(static_cast<size_t>(partitions));
  const size_t n_val = partitions == 2 ? static_cast<size_t>(std::floor(val_split / 100.0 * items.size())) : 0;
  for (size_t i = 0; i < items.size(); ++i) folds[partitions == 2 && i >= n_val ? 1 : 0].push_back(i);
  for (size_t f = 0; f < folds.size(); ++f) seeded_shuffle(folds[f], seed + f);

  // 3. Shards, then index.json last (an old index goes first, so a failed run never leaves a stale one).
  ensure_writable_dir(out_dir);
  std::error_code ec;
  fs::remove(fs::path(out_dir) / "index.json", ec);
  kd::DetectionIndex index;
  index.classes = class_list;
  index.ignored_objects = ignored;
  index.source = root.string();
  std::set<std::string> written;
  Progress progress("Writing shards", static_cast<int64_t>(items.size()), "image");
  size_t done = 0;
  for (size_t f = 0; f < folds.size(); ++f) {
    kd::FoldInfo info;
    const size_t n = folds[f].size();
    const int shards = n == 0 ? 0 : static_cast<int>(std::min<size_t>(static_cast<size_t>(num_shards), n));
    for (int s = 0; s < shards; ++s) {
      const size_t begin = n * static_cast<size_t>(s) / static_cast<size_t>(shards);
      const size_t end = n * static_cast<size_t>(s + 1) / static_cast<size_t>(shards);
      std::vector<kd::DetectionRecord> records;
      for (size_t r = begin; r < end; ++r) {
        const Item& it = items[folds[f][r]];
        kd::DetectionRecord rec;
        rec.name = it.name;
        rec.width = it.info.width, rec.height = it.info.height, rec.channels = it.info.channels;
        rec.objects = it.objects;
        rec.image = read_file(it.image_path);
        for (size_t k = 0; k < it.objects.size(); ++k) ++info.objects[it.object_classes[k]];
        records.push_back(std::move(rec));
      }
      const std::string file = kd::detection_shard_name(static_cast<int>(f), partitions, s, shards);
      kd::write_detection_shard((fs::path(out_dir) / file).string(), static_cast<int>(f), s, shards, begin, records);
      info.shards.push_back({file, records.size()});
      written.insert(file);
      done += records.size();
      progress.update(static_cast<int64_t>(done));
    }
    info.images = n;
    index.folds.push_back(std::move(info));
  }
  progress.finish();
  for (const auto& e : fs::directory_iterator(out_dir, ec))  // shards of an earlier conversion with other counts
    if (e.path().extension() == ".kdet" && !written.count(e.path().filename().string())) fs::remove(e.path(), ec);
  kd::write_detection_index(out_dir, index);

  std::vector<std::string> fold_names;
  for (size_t f = 0; f < folds.size(); ++f)
    fold_names.push_back(partitions == 2 ? (f == 0 ? "fold 0 (val)" : "fold 1") : "fold 0");
  log::info("Objects per class:\n" + count_table(class_list, index.folds, fold_names));
  if (!ignored.empty()) {
    std::string list;
    for (const auto& [c, k] : ignored) list += log::cat(list.empty() ? "" : ", ", c, " ", k);
    log::info("Left out (no target class in target_class_mapping): " + list);
  }
  log::info(log::cat("Wrote ", items.size(), " images in ", written.size(), " shard(s) and index.json to ", out_dir));
}

}  // namespace kiln::runtime
