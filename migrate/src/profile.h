// What kiln knows about one kind of TAO spec: its root message, the kiln schema it becomes, and a rule for every
// key that does not map to the kiln key of the same name (keys that do are found in the schema itself).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "kiln/migrate/tao_import.h"
#include "kiln_yaml.h"
#include "tao_text.h"

namespace kiln::migrate::detail {

// What a rule decided for one entry: the outcome, the kiln key written (a pattern with the entry's subs) and the note.
struct Verdict {
  Outcome outcome = Outcome::kMapped;
  std::string kiln;
  std::string note;
};

// What a writer sees: the result so far and every key of the input (for values that depend on others).
struct Context {
  KilnYaml& out;
  const std::vector<TaoEntry>& entries;
  std::vector<std::string>& defaults;  // kiln keys set to TAO's defaults (by a profile's finish)
  const TaoEntry* find(const std::string& pattern) const;  // the first entry of a key pattern, or nullptr
};

// Writes an entry into the result; returns the verdict (the rule's own, or one that depends on the value).
using Writer = std::function<Verdict(const TaoEntry& entry, const Verdict& rule, Context& context)>;

struct Rule {
  std::string tao;  // a key pattern ("train_config.optimizer.sgd.lr"); "x.*" covers everything under x
  Verdict verdict;
  Writer write = {};  // none: the entry's values are written at verdict.kiln (nothing when it is empty)
};

// A kiln key that TAO's default must set when the input leaves it unset, because kiln's default differs.
struct TaoDefault {
  std::string kiln;
  std::vector<Scalar> value;
  std::string why;
};

struct Profile {
  Network network;
  Kind kind;
  const google::protobuf::Descriptor* tao;  // the root message
  const specs::Schema* schema;              // what the result is validated against
  std::string command;                      // the kiln command that reads the result
  std::vector<Rule> rules;
  std::vector<TaoDefault> defaults;
  // After every key: what depends on several keys or on their absence (classification's normalisation).
  std::function<void(Context& context)> finish = {};
};

Profile classification_profile();
Profile detectnet_v2_train_profile();
Profile detectnet_v2_convert_profile();
Profile detectnet_v2_inference_profile();

// Helpers for rule tables.
Rule same(std::string tao_and_kiln, std::string note = "");
Rule renamed(std::string tao, std::string kiln, std::string note = "");
Rule changed(std::string tao, std::string kiln, std::string note, Writer write = {});
Rule unsupported(std::string tao, std::string why);
// The entry's values (or its empty block) at the kiln key pattern `kiln`, with the entry's indices and map keys.
void write_entry(const TaoEntry& e, const std::string& kiln, KilnYaml& out);

}  // namespace kiln::migrate::detail
