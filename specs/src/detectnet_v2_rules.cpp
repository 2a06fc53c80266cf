// The rules between keys of the DetectNet_v2 experiment spec (detectnet_v2_rules.h).
#include "detectnet_v2_rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "text.h"

namespace kiln::specs::detail {
namespace {

using Issues = std::vector<SpecIssue>;

void add(const Spec& spec, Issues& issues, const std::string& path, std::string message) {
  issues.push_back(SpecIssue{spec.location(path), path, std::move(message)});
}

std::string item_path(const std::string& list, size_t i) { return list + "[" + std::to_string(i) + "]"; }

std::string where_text(const Location& where) {
  return where.line > 0 ? "line " + std::to_string(where.line) : where.str();
}

std::string quoted(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  for (const auto& n : names) q.push_back("'" + n + "'");
  return join(q, ", ");
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

struct Named {
  std::string name, path;
};

// The `key` of each item of a group list that has one.
std::vector<Named> names_of(const Spec& spec, const std::string& list, const std::string& key) {
  std::vector<Named> out;
  if (!spec.has(list)) return out;
  for (size_t i = 0; i < spec.count(list); ++i) {
    const std::string p = item_path(list, i) + "." + key;
    if (spec.has(p)) out.push_back({spec.get_string(p), p});
  }
  return out;
}

// Reports the second and later items with a name; returns the distinct names in order.
std::vector<std::string> distinct(const Spec& spec, const std::vector<Named>& names, const std::string& what,
                                  Issues& issues) {
  std::map<std::string, std::string> first;
  std::vector<std::string> out;
  for (const auto& n : names) {
    auto [it, inserted] = first.emplace(n.name, n.path);
    if (inserted) {
      out.push_back(n.name);
    } else {
      add(spec, issues, n.path,
          what + " '" + n.name + "' is given twice (first at " + where_text(spec.location(it->second)) + ")");
    }
  }
  return out;
}

// "'x' is not a target class (…)" / "maps to 'x', which is not a target class (…)".
std::string not_a_class(const std::string& name, const std::vector<std::string>& classes, const char* link = " is") {
  return "'" + name + "'" + link + " not a target class (cost_function_config.target_classes: " + join(classes, ", ") +
         ")" + detail::did_you_mean(name, classes);
}

// A TAO map of per-class settings: every key a target class, each at most once; with `every_class`, exactly once.
void check_class_map(const Spec& spec, const std::string& list, const std::vector<std::string>& classes,
                     bool every_class, Issues& issues) {
  if (!spec.has(list)) return;
  const std::vector<Named> keys = names_of(spec, list, "key");
  const std::vector<std::string> given = distinct(spec, keys, "class", issues);
  std::set<std::string> reported;
  for (const auto& k : keys) {
    if (!contains(classes, k.name) && reported.insert(k.name).second) {
      add(spec, issues, k.path, not_a_class(k.name, classes));
    }
  }
  if (!every_class) return;
  std::vector<std::string> missing;
  for (const auto& c : classes) {
    if (!contains(given, c)) missing.push_back(c);
  }
  if (!missing.empty()) {
    add(spec, issues, list,
        std::string("no entry for target class") + (missing.size() > 1 ? "es " : " ") + quoted(missing) +
            " (one `key: <class>` item per class of cost_function_config.target_classes)");
  }
}

void check_mapping(const Spec& spec, const std::vector<std::string>& classes, Issues& issues) {
  const std::string map = "dataset_config.target_class_mapping";
  if (!spec.has(map) || spec.get_string_map(map).empty()) return;
  std::set<std::string> targets;
  for (const auto& [source, target] : spec.get_string_map(map)) {
    targets.insert(target);
    if (!contains(classes, target)) {
      add(spec, issues, map + "." + source, "maps to " + not_a_class(target, classes, ", which is"));
    }
  }
  std::vector<std::string> unmapped;
  for (const auto& c : classes) {
    if (!targets.count(c)) unmapped.push_back(c);
  }
  if (!unmapped.empty()) {
    add(spec, issues, map,
        "no source class maps to target class" + std::string(unmapped.size() > 1 ? "es " : " ") + quoted(unmapped) +
            " (with a mapping, every target class needs a source; without one, the shards' classes are used as "
            "they are)");
  }
}

void check_objectives(const Spec& spec, Issues& issues) {
  const std::string classes = "cost_function_config.target_classes";
  if (!spec.has(classes)) return;
  for (size_t i = 0; i < spec.count(classes); ++i) {
    const std::string list = item_path(classes, i) + ".objectives";
    const std::vector<Named> names = names_of(spec, list, "name");
    if (names.empty()) continue;
    const std::vector<std::string> given = distinct(spec, names, "objective", issues);
    for (const char* needed : {"cov", "bbox"}) {
      if (!contains(given, needed)) {
        add(spec, issues, list,
            std::string("missing objective '") + needed +
                "' (give both cov and bbox, or no objectives for TAO's defaults: cov 1/1, bbox 10/10)");
      }
    }
  }
}

// `low` must not be above `high` (both floats or both ints).
void check_order(const Spec& spec, const std::string& low, const std::string& high, Issues& issues) {
  if (!spec.has(low) || !spec.has(high)) return;
  const double lo = spec.get_float(low), hi = spec.get_float(high);
  if (lo > hi) {
    const std::string high_name = high.substr(high.rfind('.') + 1);
    add(spec, issues, low,
        "must not be above " + high_name + " (" + format_number(hi) + "), got " + format_number(lo));
  }
}

void check_sizes(const Spec& spec, Issues& issues) {
  const std::string stride_key = "model_config.stride";
  if (!spec.has(stride_key)) return;
  const int64_t stride = spec.get_int(stride_key);
  for (const char* side : {"width", "height"}) {
    const std::string key = std::string("augmentation_config.preprocessing.output_image_") + side;
    if (spec.has(key) && spec.get_int(key) % stride != 0) {
      add(spec, issues, key,
          "must be a multiple of model_config.stride (" + std::to_string(stride) + "), got " +
              std::to_string(spec.get_int(key)));
    }
  }
  const std::string pre = "augmentation_config.preprocessing.";
  for (auto [first, second] : {std::pair{"crop_left", "crop_right"}, std::pair{"crop_top", "crop_bottom"}}) {
    if (!spec.has(pre + first) || !spec.has(pre + second)) continue;
    const int64_t a = spec.get_int(pre + first), b = spec.get_int(pre + second);
    if (b != 0 && a >= b) {
      add(spec, issues, pre + first,
          std::string("must be below ") + second + " (" + std::to_string(b) + "), got " + std::to_string(a));
    }
  }
}

void check_experiment(const Spec& spec, Issues& issues) {
  const std::vector<std::string> classes =
      distinct(spec, names_of(spec, "cost_function_config.target_classes", "name"), "target class", issues);
  if (!classes.empty()) {
    check_class_map(spec, "bbox_rasterizer_config.target_class_config", classes, true, issues);
    check_class_map(spec, "postprocessing_config.target_class_config", classes, true, issues);
    check_class_map(spec, "evaluation_config.minimum_detection_ground_truth_overlap", classes, false, issues);
    check_class_map(spec, "evaluation_config.evaluation_box_config", classes, false, issues);
    check_class_map(spec, "bbox_handler_config.classwise_bbox_handler_config", classes, false, issues);
    check_mapping(spec, classes, issues);
  }
  check_objectives(spec, issues);
  check_sizes(spec, issues);
  if (spec.has("dataset_config.validation_fold") && spec.has("dataset_config.validation_data_source.source_weight")) {
    add(spec, issues, "dataset_config.validation_data_source",
        "give validation_fold or validation_data_source, not both (validation_fold is at " +
            where_text(spec.location("dataset_config.validation_fold")) + ")");
  }
  check_order(spec, "augmentation_config.spatial_augmentation.zoom_min",
              "augmentation_config.spatial_augmentation.zoom_max", issues);
  const std::string schedule = "training_config.learning_rate.soft_start_annealing_schedule.";
  check_order(spec, schedule + "min_learning_rate", schedule + "max_learning_rate", issues);
  check_order(spec, schedule + "soft_start", schedule + "annealing", issues);
  check_order(spec, "cost_function_config.min_objective_weight", "cost_function_config.max_objective_weight",
              issues);
  const std::string boxes = "evaluation_config.evaluation_box_config";
  if (spec.has(boxes)) {
    for (size_t i = 0; i < spec.count(boxes); ++i) {
      const std::string value = item_path(boxes, i) + ".value.";
      check_order(spec, value + "minimum_height", value + "maximum_height", issues);
      check_order(spec, value + "minimum_width", value + "maximum_width", issues);
    }
  }
}

}  // namespace

void check_detectnet_v2_experiment(const Spec& spec, std::vector<SpecIssue>& issues) { check_experiment(spec, issues); }

}  // namespace kiln::specs::detail
