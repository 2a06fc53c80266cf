// Reading a TAO spec file: protobuf text format parsed by libprotobuf's TextFormat over kiln's definitions of TAO's
// messages (migrate/proto), flattened into one entry per key as written, each with its file:line:column.
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "kiln/specs/spec.h"

namespace kiln::migrate::detail {

// A value as written: enums by name, every integer type as int64, float and double as double.
using Scalar = std::variant<bool, int64_t, double, std::string>;

struct TaoEntry {
  // "dataset_config.data_sources[0].tfrecords_path"; a map entry's key in brackets: "target_class_config[car].x".
  std::string path;
  // The same with the indices and map keys taken out, as the mapping rules name keys:
  // "dataset_config.data_sources[].tfrecords_path", "bbox_rasterizer_config.target_class_config{}.cov_center_x".
  std::string pattern;
  std::vector<std::string> subs;  // what each "[]" / "{}" of the pattern stood for, in order
  specs::Location where;
  const google::protobuf::FieldDescriptor* field = nullptr;
  std::vector<Scalar> values;  // one for a singular key, each element of a repeated one
  bool block = false;          // a block given with nothing in it (`cov {}`): a key without a value
};

// The keys given at the top level of a protobuf text file, with where they are; used to tell which spec it is.
// Throws specs::SpecError when the text does not tokenise as protobuf text format.
std::vector<std::pair<std::string, specs::Location>> top_level_keys(const std::string& file, const std::string& text);

// Parses `text` as the message `root` and returns every key that was given, in file order. Throws specs::SpecError
// with one issue per problem (file:line:column): a syntax error or malformed value (TextFormat stops there), and
// every key the message does not have (with a suggestion), so that nothing in the file goes unreported.
std::vector<TaoEntry> read_tao_text(const std::string& file, const std::string& text,
                                    const google::protobuf::Descriptor& root);

std::string scalar_text(const Scalar& value);  // as it would be written in YAML (strings unquoted)

}  // namespace kiln::migrate::detail
