// Group lists (a list of groups, e.g. a cluster's nodes), string maps (e.g. environment variables) and
// Schema::check (rules across keys): values, exact problem locations, overrides, to_yaml and the reference.
#include <gtest/gtest.h>

#include <set>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using Lines = std::vector<std::string>;
using testing::issues_of;

const Schema& schema() {
  static const Schema s = [] {
    Field nodes = group_list("nodes",
                             {required(string("host", std::nullopt, "Host.")), integer("slots", 1, "Slots.", 1, 64),
                              int_list("gpus", {}, "GPUs.", 0)},
                             "Hosts.");
    nodes.min_len = 1;
    Field env = string_map("env", "Environment.");
    env.check = [](const Value& v) { return std::get<StringMap>(v).count("BAD") ? "BAD is not allowed" : ""; };
    env.key_check = [](const std::string& name) { return name.find('-') == std::string::npos ? "" : "no '-' please"; };
    Schema schema{"lists",
                  {string("name", std::string("x"), "Name."), required(nodes),
                   group_list("extra", {integer("n", 7, "N.")}, "Extra."), env}};
    schema.check = [](const Spec& spec, std::vector<SpecIssue>& issues) {
      if (!spec.has("nodes")) return;
      std::set<std::string> seen;
      for (size_t i = 0; i < spec.count("nodes"); ++i) {
        const std::string p = "nodes[" + std::to_string(i) + "].host";
        if (spec.has(p) && !seen.insert(spec.get_string(p)).second) {
          issues.push_back({spec.location(p), p, "host '" + spec.get_string(p) + "' is listed twice"});
        }
      }
    };
    return schema;
  }();
  return s;
}

Spec load(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return load_spec_text(schema(), yaml, "c.yaml", "/", overrides);
}

Lines problems(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  return issues_of([&] { load(yaml, overrides); });
}

const char* kTwoNodes =
    "nodes:\n"
    "  - host: a\n"
    "    slots: 2\n"
    "    gpus: [0, 1]\n"
    "  - {host: b}\n"
    "env:\n"
    "  OMP_NUM_THREADS: 4\n"
    "  FLAG: true\n"
    "  QUOTED: \"x y\"\n";

TEST(SpecGroupList, ItemsAreAddressedByIndexWithDefaultsFilled) {
  Spec spec = load(kTwoNodes);
  ASSERT_EQ(spec.count("nodes"), 2u);
  EXPECT_EQ(spec.get_string("nodes[0].host"), "a");
  EXPECT_EQ(spec.get_int("nodes[0].slots"), 2);
  EXPECT_EQ(spec.get_int_list("nodes[0].gpus"), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(spec.get_string("nodes[1].host"), "b");
  EXPECT_EQ(spec.get_int("nodes[1].slots"), 1);
  EXPECT_TRUE(spec.get_int_list("nodes[1].gpus").empty());
  EXPECT_EQ(spec.location("nodes[1].host").str(), "c.yaml:5:12");
  EXPECT_EQ(spec.location("nodes[1].slots").str(), "c.yaml:5:5");  // absent: the item itself
}

TEST(SpecGroupList, AbsentOptionalListIsEmpty) {
  Spec spec = load(kTwoNodes);
  EXPECT_TRUE(spec.has("extra"));
  EXPECT_EQ(spec.count("extra"), 0u);
  EXPECT_THROW(spec.count("name"), Error);
  EXPECT_EQ(load("nodes: [{host: a}]\nextra:\n  - {}\n  - n: 3\n").count("extra"), 2u);
}

TEST(SpecGroupList, ProblemsInsideItemsNameTheItem) {
  EXPECT_EQ(problems("nodes:\n"
                     "  - host: a\n"
                     "    slot: 2\n"
                     "  - slots: 0\n"
                     "  - [x]\n"
                     "  - host: c\n"
                     "    gpus: [-1]\n"),
            Lines({"c.yaml:3:5: nodes[0].slot: unknown key 'slot' (did you mean 'slots'?)",
                   "c.yaml:4:5: nodes[1].host: missing required key",
                   "c.yaml:4:12: nodes[1].slots: 0 is out of range (must be in [1, 64])",
                   "c.yaml:5:5: nodes[2]: expected a group of keys (a map), got a list",
                   "c.yaml:7:12: nodes[3].gpus[0]: -1 is out of range (must be >= 0)"}));
}

TEST(SpecGroupList, WrongShapeAndLength) {
  EXPECT_EQ(problems("nodes: {host: a}\n"),
            Lines({"c.yaml:1:8: nodes: expected a list of groups (one '- key: value' map per item), got a map"}));
  EXPECT_EQ(problems("nodes: []\n"), Lines({"c.yaml:1:8: nodes: expected at least 1 items, got 0"}));
  EXPECT_EQ(problems("name: n\n"), Lines({"c.yaml:1:1: nodes: missing required key"}));
  EXPECT_EQ(problems("nodes:\n  - host:\n  - ~\n"),
            Lines({"c.yaml:2:5: nodes[0].host: expected a string, got no value",
                   "c.yaml:3:5: nodes[1]: expected a group of keys (a map), got no value"}));
}

TEST(SpecStringMap, ValuesAreKeptAsWritten) {
  Spec spec = load(kTwoNodes);
  EXPECT_EQ(spec.get_string_map("env"), (StringMap{{"FLAG", "true"}, {"OMP_NUM_THREADS", "4"}, {"QUOTED", "x y"}}));
  EXPECT_EQ(spec.location("env.FLAG").str(), "c.yaml:8:3");
  EXPECT_TRUE(load("nodes: [{host: a}]\n").get_string_map("env").empty());
  EXPECT_TRUE(load("nodes: [{host: a}]\nenv:\n").get_string_map("env").empty());
}

TEST(SpecStringMap, ValuesMustBeScalars) {
  EXPECT_EQ(
      problems("nodes: [{host: a}]\nenv:\n  A: [1]\n  B:\n  C: {x: 1}\n"),
      Lines({"c.yaml:3:6: env.A: expected a string, got a list", "c.yaml:4:3: env.B: expected a string, got no value",
             "c.yaml:5:6: env.C: expected a string, got a map"}));
  EXPECT_EQ(problems("nodes: [{host: a}]\nenv: [A]\n"),
            Lines({"c.yaml:2:6: env: expected a map of names to values, got a list"}));
  EXPECT_EQ(problems("nodes: [{host: a}]\nenv: {BAD: 1}\n"), Lines({"c.yaml:2:6: env: BAD is not allowed"}));
  EXPECT_EQ(problems("nodes: [{host: a}]\nenv:\n  A-B: 1\n  C: [2]\n  D-E: [3]\n"),
            Lines({"c.yaml:3:3: env.A-B: no '-' please", "c.yaml:4:6: env.C: expected a string, got a list",
                   "c.yaml:5:3: env.D-E: no '-' please", "c.yaml:5:8: env.D-E: expected a string, got a list"}));
}

TEST(SpecSchemaCheck, RunsOnAPartlyValidSpecAndSortsWithTheOtherProblems) {
  EXPECT_EQ(problems("nodes:\n  - host: a\n  - host: b\n    slots: x\n  - host: a\nnme: q\n"),
            Lines({"c.yaml:4:12: nodes[1].slots: expected an integer, got 'x'",
                   "c.yaml:5:11: nodes[2].host: host 'a' is listed twice",
                   "c.yaml:6:1: nme: unknown key 'nme' (did you mean 'name'?)"}));
}

TEST(SpecCollectionOverrides, MapEntriesAndWholeLists) {
  Spec spec = load(kTwoNodes, {"env.NCCL_DEBUG=INFO", "env.FLAG=", "nodes=[{host: z, slots: 3}]"});
  EXPECT_EQ(spec.get_string_map("env").at("NCCL_DEBUG"), "INFO");
  EXPECT_EQ(spec.get_string_map("env").at("FLAG"), "");
  ASSERT_EQ(spec.count("nodes"), 1u);
  EXPECT_EQ(spec.get_int("nodes[0].slots"), 3);
  EXPECT_EQ(load("nodes: [{host: a}]\n", {"env.X=1"}).get_string_map("env"), (StringMap{{"X", "1"}}));
}

TEST(SpecCollectionOverrides, ItemsAndNestedMapKeysAreRefused) {
  EXPECT_EQ(problems(kTwoNodes, {"nodes[0].slots=3", "nodes.host=q", "env.A.B=1", "nodse=[]"}),
            Lines({"<command line>: nodes[0].slots: 'nodes' is a list; set it as a whole (nodes=[{...}, {...}])",
                   "<command line>: nodes.host: 'nodes' is a list; set it as a whole (nodes=[{...}, {...}])",
                   "<command line>: env.A.B: 'env.A' is a single value, it has no key 'B'",
                   "<command line>: nodse: unknown key 'nodse' (did you mean 'nodes'?)"}));
}

TEST(SpecCollections, ToYamlRoundTrips) {
  Spec spec = load(std::string(kTwoNodes) + "extra: [{}]\n");
  const std::string yaml = spec.to_yaml();
  Spec again = load(yaml);
  EXPECT_EQ(again.to_yaml(), yaml);
  EXPECT_EQ(again.count("nodes"), 2u);
  EXPECT_EQ(again.count("extra"), 1u);
  EXPECT_EQ(again.get_int("extra[0].n"), 7);
  EXPECT_EQ(again.get_string_map("env"), spec.get_string_map("env"));
  EXPECT_EQ(load("nodes: [{host: a}]\n").to_yaml(),
            "name: \"x\"\nnodes:\n  - host: \"a\"\n    slots: 1\n    gpus: []\nextra: []\nenv: {}\n");
}

TEST(SpecCollections, ReferenceDescribesItemsInTheirOwnSection) {
  const std::string text = describe_schema(schema());
  EXPECT_NE(text.find("| `nodes` | list of groups | **required** | at least 1 items | Hosts. See `nodes[]`. |"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("| `env` | string map | `{}` |  | Environment. |"), std::string::npos) << text;
  EXPECT_NE(text.find("### `nodes[]`\n\nHosts.\n\n| Key |"), std::string::npos) << text;
  EXPECT_NE(text.find("| `extra` | list of groups | `[]` |  | Extra. See `extra[]`. |"), std::string::npos) << text;
}

}  // namespace
}  // namespace kiln::specs
