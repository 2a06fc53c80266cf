// `kiln spec import`: a TAO (TF1) experiment spec in protobuf text format becomes a kiln YAML spec, with every key of
// the input accounted for — mapped to a kiln key, mapped with a change of meaning or units (said what changed), or
// not supported (said why). docs/migrating_from_tao.md has the tables.
#pragma once
#include <string>
#include <vector>

#include "kiln/specs/spec.h"

namespace kiln::migrate {

enum class Network { kAuto, kClassification, kDetectNetV2 };
// classification's train, retrain and evaluate share one experiment spec (kTrain); DetectNet_v2 also has the
// dataset_convert spec (kConvert: kitti_config) and the inference spec (kInference: inferencer_config,
// bbox_handler_config).
enum class Kind { kAuto, kTrain, kConvert, kInference };
enum class Outcome { kMapped, kChanged, kUnsupported };

const char* name_of(Network network);
const char* name_of(Kind kind);
const char* name_of(Outcome outcome);

// One key of the input as written, and what became of it.
struct KeyReport {
  std::string tao_key;     // "dataset_config.data_sources[0].tfrecords_path", map entries as "target_class_config[car]"
  specs::Location where;   // file:line:column of the key
  Outcome outcome = Outcome::kMapped;
  std::string kiln_key;    // the kiln key written ("" when none is)
  std::string note;        // what changed, or why it is not supported
  std::string rule;        // the TAO key pattern of the rule that decided it; "" for the same-name mapping
};

struct Imported {
  Network network = Network::kAuto;
  Kind kind = Kind::kAuto;
  std::string schema;             // the kiln schema the result is for ("classification", "detectnet_v2", …)
  std::string yaml;               // the kiln spec
  std::vector<KeyReport> keys;    // every key of the input, in file order
  std::vector<std::string> defaults;  // kiln keys set to TAO's default because the input left them unset
  // What kiln's validation says of the result as it would be read from `output_dir` (paths that do not exist yet
  // included); empty when it validates.
  std::vector<specs::SpecIssue> validation;
  size_t count(Outcome outcome) const;
};

// Reads `file` and converts it. `network` and `kind` are detected from its top-level keys when kAuto. Relative
// paths of the result are read against `output_dir` for validation. Throws specs::SpecError (exit 2) listing one
// issue per problem (file:line:column) for a file that is not protobuf text format, keys no TAO spec has, or
// malformed values; UsageError for a network/kind pair kiln does not import.
Imported import_tao_spec(const std::string& file, Network network, Kind kind, const std::string& output_dir);

// The table printed for the user: one row per input key (where, outcome, kiln key, note), then the totals.
std::string key_table(const Imported& imported);

// One rule of the mapping: for a kind of TAO spec, a TAO key pattern ("dataset_config.data_sources[].tfrecords_path",
// "x{}" for map entries, "x.*" for everything under x) and what it becomes. Keys without a rule map to the kiln key of
// the same name when kiln's schema has one, and are unsupported otherwise.
struct RuleRow {
  Network network;
  Kind kind;
  std::string tao;
  Outcome outcome;
  std::string kiln;
  std::string note;
};
std::vector<RuleRow> mapping_rules();

// The Markdown tables of docs/migrating_from_tao.md: every rule for every kind of TAO spec kiln imports, and the
// kiln keys set to TAO's defaults (generated, so the doc cannot drift from the code).
std::string mapping_reference();

}  // namespace kiln::migrate
