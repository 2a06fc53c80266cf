// Every key of every TAO message kiln imports — each row of docs/migrating_from_tao.md's tables — goes through an
// import on its own: a minimal TAO spec that sets just that key (built from the registered message definitions)
// converts without error and reports exactly that one key, decided by the rule the table names.
#include <gtest/gtest.h>
#include <google/protobuf/descriptor.h>

#include <filesystem>
#include <fstream>

#include "kiln/migrate/tao_import.h"

namespace kiln::migrate {
namespace {

namespace pb = google::protobuf;

struct Root {
  const char* message;
  Network network;
  Kind kind;
};

std::string value_text(const pb::FieldDescriptor& f) {
  switch (f.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL: return "true";
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
    case pb::FieldDescriptor::CPPTYPE_DOUBLE: return "0.5";
    case pb::FieldDescriptor::CPPTYPE_STRING: return "\"x\"";
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumDescriptor& e = *f.enum_type();
      return e.value(e.value_count() > 1 ? 1 : 0)->name();
    }
    default: return "1";
  }
}

struct Key {
  std::string pattern;  // as the mapping names it: "a[].b", "a{}.c", "a{}"
  std::string text;     // a TAO spec setting only it
};

// Every leaf of `d`, each with the text that sets it inside its enclosing blocks.
void keys_of(const pb::Descriptor& d, const std::string& prefix, const std::string& open, const std::string& close,
             int depth, std::vector<Key>& out) {
  for (int i = 0; i < d.field_count() && depth < 12; ++i) {
    const pb::FieldDescriptor& f = *d.field(i);
    const std::string path = prefix.empty() ? f.name() : prefix + "." + f.name();
    if (f.is_map()) {
      const pb::FieldDescriptor& value = *f.message_type()->map_value();
      const std::string entry = open + f.name() + " { key: \"k\" ";
      if (value.message_type()) {
        keys_of(*value.message_type(), path + "{}", entry + "value { ", "} }" + close, depth + 1, out);
      } else {
        out.push_back({path + "{}", entry + "value: " + value_text(value) + " }" + close});
      }
    } else if (f.message_type()) {
      keys_of(*f.message_type(), path + (f.is_repeated() ? "[]" : ""), open + f.name() + " { ", "}" + close,
              depth + 1, out);
    } else {
      out.push_back({path, open + f.name() + ": " + value_text(f) + " " + close});
    }
  }
}

// "a[0].b[car].c" → "a[].b{}.c" given that map keys are "k" and indices numbers.
std::string pattern_of(std::string path) {
  for (size_t at; (at = path.find("[k]")) != std::string::npos;) path.replace(at, 3, "{}");
  for (size_t at; (at = path.find("[0]")) != std::string::npos;) path.replace(at, 3, "[]");
  return path;
}

// The rule of the mapping that names `pattern` (exactly, or "block.*" above it); "" when none does.
std::string rule_for(const Root& root, const std::string& pattern) {
  std::string best;
  for (const auto& r : mapping_rules()) {
    if (r.network != root.network || r.kind != root.kind) continue;
    if (r.tao == pattern) return r.tao;
    if (r.tao.size() > 2 && r.tao.compare(r.tao.size() - 2, 2, ".*") == 0) {
      const std::string block = r.tao.substr(0, r.tao.size() - 2);
      if (pattern.rfind(block + ".", 0) == 0 && r.tao.size() > best.size()) best = r.tao;
    }
  }
  return best;
}

TEST(TaoImportEveryKey, EachKeyAloneIsReportedOnceByItsRule) {
  const std::vector<Root> roots{{"kiln.tao.classification.Experiment", Network::kClassification, Kind::kTrain},
                                {"kiln.tao.detectnet_v2.Experiment", Network::kDetectNetV2, Kind::kTrain},
                                {"kiln.tao.detectnet_v2.DatasetExport", Network::kDetectNetV2, Kind::kConvert},
                                {"kiln.tao.detectnet_v2.Inference", Network::kDetectNetV2, Kind::kInference}};
  (void)mapping_rules();  // the library's message definitions are registered once it is used
  const auto dir = std::filesystem::path(KILN_BINARY_DIR) / "tests" / "migrate_work" / "every_key";
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "spec.txt").string();
  size_t tested = 0;
  for (const Root& root : roots) {
    const pb::Descriptor* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(root.message);
    ASSERT_NE(d, nullptr) << root.message;
    std::vector<Key> keys;
    keys_of(*d, "", "", "", 0, keys);
    for (const Key& key : keys) {
      std::ofstream(file) << key.text << "\n";
      try {
        const Imported im = import_tao_spec(file, root.network, root.kind, dir.string());
        ASSERT_EQ(im.keys.size(), 1u) << key.text;
        EXPECT_EQ(pattern_of(im.keys[0].tao_key), key.pattern) << key.text;
        EXPECT_EQ(im.keys[0].rule, rule_for(root, key.pattern)) << key.text;
        EXPECT_EQ(im.keys[0].where.line, 1) << key.text;
      } catch (const std::exception& e) {
        ADD_FAILURE() << key.text << ": " << e.what();
      }
      ++tested;
    }
  }
  EXPECT_GT(tested, 300u) << "every leaf of the four TAO messages (84 + 174 + 24 + 49 in TAO 5)";
}

}  // namespace
}  // namespace kiln::migrate
