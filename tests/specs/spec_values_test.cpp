// What a valid Spec holds: defaults, resolved paths, locations, typed getters, and a to_yaml() that reloads equal.
#include <gtest/gtest.h>

#include <cmath>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using testing::kMinimal;
using testing::TempDir;
using testing::test_schema;

void expect_equal_specs(const Spec& a, const Spec& b) {
  EXPECT_EQ(a.values_, b.values_);
  EXPECT_EQ(a.choices_, b.choices_);
  EXPECT_EQ(a.order_, b.order_);
}

class SpecValues : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(SpecValues, DefaultsAreFilledForAbsentKeysAndGroups) {
  Spec spec = load_spec(test_schema(), dir_.write("t.yaml", kMinimal));
  EXPECT_EQ(spec.get_string("model.arch"), "lenet5");
  EXPECT_EQ(spec.get_int("model.layers"), 18);
  EXPECT_EQ(spec.get_float("model.dropout"), 0.0);
  EXPECT_TRUE(spec.get_bool("model.bn"));
  EXPECT_EQ(spec.get_string("model.size"), "1,28,28");
  EXPECT_EQ(spec.get_int_list("model.freeze"), std::vector<int64_t>{});
  EXPECT_EQ(spec.get_float_list("model.mean"), std::vector<double>{0.5});
  EXPECT_EQ(spec.get_string_list("model.tags"), std::vector<std::string>{"a"});
  EXPECT_EQ(spec.get_int("train.batch"), 64);  // the whole train group is absent
  EXPECT_EQ(spec.get_float("train.reg.weight_decay"), 5e-4);
  EXPECT_EQ(spec.get_string("train.weights"), "");  // unset path stays ""
  EXPECT_EQ(spec.choice("train.optimizer"), "sgd");
  EXPECT_EQ(spec.get_float("train.optimizer.sgd.momentum"), 0.9);
  EXPECT_FALSE(spec.has("train.optimizer.adam.beta_1"));
  EXPECT_EQ(spec.get_int("data.train.limit"), 0);
}

TEST_F(SpecValues, OptionalGroupWithRequiredKeysStaysAbsentAsAWhole) {
  Spec spec = load_spec(test_schema(), dir_.write("t.yaml", kMinimal));
  EXPECT_FALSE(spec.has("data.val.root"));
  EXPECT_FALSE(spec.has("data.val.limit"));
  Spec with_val = load_spec(test_schema(), dir_.write("t.yaml", std::string(kMinimal) + "  val:\n    root: v\n"));
  EXPECT_EQ(with_val.get_string("data.val.root"), "v");
  EXPECT_EQ(with_val.get_int("data.val.limit"), 0);
}

TEST_F(SpecValues, OneOfShorthandAndEmptyAlternative) {
  Spec shorthand =
      load_spec(test_schema(), dir_.write("t.yaml", std::string(kMinimal) + "train:\n  optimizer: adam\n"));
  EXPECT_EQ(shorthand.choice("train.optimizer"), "adam");
  EXPECT_EQ(shorthand.get_float("train.optimizer.adam.epsilon"), 1e-7);
  Spec empty =
      load_spec(test_schema(), dir_.write("t.yaml", std::string(kMinimal) + "train:\n  optimizer:\n    adam:\n"));
  EXPECT_EQ(empty.choice("train.optimizer"), "adam");
  EXPECT_EQ(empty.get_float("train.optimizer.adam.beta_1"), 0.9);
}

TEST_F(SpecValues, LocationsPointAtTheValueOrTheEnclosingGroup) {
  const std::string file = dir_.write("t.yaml", "model:\n  arch: lenet5\n  layers: 4\ndata:\n  train:\n    root: r\n");
  Spec spec = load_spec(test_schema(), file);
  EXPECT_EQ(spec.source_file(), file);
  EXPECT_EQ(spec.location("model.layers").str(), file + ":3:11");
  EXPECT_EQ(spec.location("data.train.root").str(), file + ":6:11");
  EXPECT_EQ(spec.location("model.dropout").str(), file + ":2:3");  // default: where the model map is
  EXPECT_EQ(spec.location("data.train.limit").str(), file + ":6:5");
  EXPECT_EQ(spec.location("train.reg.weight_decay").str(), file + ":1:1");  // train absent: the document
  EXPECT_EQ(spec.location("no.such.key").str(), file);
}

TEST_F(SpecValues, PathsResolveRelativeToTheSpecFile) {
  dir_.write("data/weights.bin", "w");
  const std::string file =
      dir_.write("specs/t.yaml", std::string(kMinimal) + "train:\n  weights: ../data/./weights.bin\n  output: out/\n");
  Spec spec = load_spec(test_schema(), file);
  EXPECT_EQ(spec.get_string("train.weights"), dir_.path() + "/data/weights.bin");
  EXPECT_EQ(spec.get_string("train.output"), dir_.path() + "/specs/out");  // need not exist

  const std::string absolute = dir_.write(
      "t.yaml", std::string(kMinimal) + "train:\n  weights: " + dir_.path() + "/data/weights.bin\n  output: \"\"\n");
  Spec abs_spec = load_spec(test_schema(), absolute);
  EXPECT_EQ(abs_spec.get_string("train.weights"), dir_.path() + "/data/weights.bin");
  EXPECT_EQ(abs_spec.get_string("train.output"), "");
}

TEST_F(SpecValues, LoadSpecTextResolvesAgainstBaseDir) {
  dir_.write("w.bin", "w");
  Spec spec = load_spec_text(test_schema(), std::string(kMinimal) + "train: {weights: w.bin}\n", "inline", dir_.path());
  EXPECT_EQ(spec.get_string("train.weights"), dir_.path() + "/w.bin");
  EXPECT_EQ(spec.location("train.weights").str(), "inline:6:18");
}

TEST_F(SpecValues, GettersRejectOtherTypesAsProgrammingErrors) {
  Spec spec = load_spec_text(test_schema(), kMinimal, "inline", dir_.path());
  auto message = [](auto&& get) -> std::string {
    try {
      get();
    } catch (const SpecError&) {
      return "SpecError (a usage error, wrong here)";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kFailure);
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message([&] { spec.get_int("model.dropout"); }), "spec key 'model.dropout' holds a float, not a int");
  EXPECT_EQ(message([&] { spec.get_string("model.layers"); }), "spec key 'model.layers' holds a int, not a string");
  EXPECT_EQ(message([&] { spec.get_bool("model.freeze"); }), "spec key 'model.freeze' holds a int list, not a bool");
  EXPECT_EQ(message([&] { spec.get_float_list("model.freeze"); }),
            "spec key 'model.freeze' holds a int list, not a float list");
  EXPECT_EQ(message([&] { spec.get_float("model.arch"); }), "spec key 'model.arch' holds a string, not a float");
  EXPECT_EQ(message([&] { spec.get_int("model.nope"); }), "spec key 'model.nope' is not set (requested as int)");
  EXPECT_EQ(message([&] { spec.choice("model"); }), "spec key 'model' is not a one-of group (requested its choice)");
  EXPECT_EQ(spec.get_float("model.layers"), 18.0);  // ints are accepted as floats
  EXPECT_TRUE(spec.has("model.layers"));
  EXPECT_FALSE(spec.has("model"));  // groups hold no value themselves
}

TEST_F(SpecValues, NumbersAcceptYamlForms) {
  Spec spec = load_spec_text(test_schema(),
                             std::string(kMinimal) +
                                 "  val: {root: v, limit: +7}\ntrain:\n  lr: 1e-3\n"
                                 "  optimizer: {adam: {epsilon: .5e-8, beta_1: 1}}\n",
                             "inline", dir_.path());
  EXPECT_EQ(spec.get_int("data.val.limit"), 7);
  EXPECT_EQ(spec.get_float("train.lr"), 1e-3);
  EXPECT_EQ(spec.get_float("train.optimizer.adam.epsilon"), 0.5e-8);
  EXPECT_EQ(spec.get_float("train.optimizer.adam.beta_1"), 1.0);
}

TEST_F(SpecValues, ToYamlRoundTripsExactly) {
  dir_.write("w.bin", "w");
  const std::string file =
      dir_.write("t.yaml",
                 "model:\n  arch: resnet\n  dropout: 0.1\n  size: \"true\"\n  mean: [0.1, 0.30000000000000004, 1]\n"
                 "  tags: ['null', '1,2', \"quote\\\"d\", '']\n  freeze: [0, 4]\n"
                 "train:\n  lr: 0.000123456789012345678\n  weights: w.bin\n  optimizer:\n    adam: {epsilon: 1e-12}\n"
                 "  reg: {weight_decay: 5e-4}\n"
                 "data:\n  train: {root: r}\n  val: {root: ' spaced '}\n");
  Spec original = load_spec(test_schema(), file, {"model.dropout=0.7"});
  const std::string yaml = original.to_yaml();
  Spec reloaded = load_spec_text(test_schema(), yaml, "reloaded", "/nonexistent/elsewhere");
  expect_equal_specs(original, reloaded);
  EXPECT_EQ(reloaded.get_string("train.weights"), dir_.path() + "/w.bin");
  EXPECT_EQ(reloaded.get_float("model.dropout"), 0.7);
  EXPECT_EQ(reloaded.get_string("model.size"), "true");
  // Shortest exact form, not 0.10000000000000001 or 0.00050000000000000001.
  EXPECT_NE(yaml.find("weight_decay: 0.0005\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("[0.1, 0.30000000000000004, 1.0]"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("layers: 18\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("epsilon: 1.0e-12\n"), std::string::npos) << yaml;
}

TEST_F(SpecValues, ToYamlRoundTripsExtremeFloats) {
  const std::vector<double> values = {1e300, -1e-300, 123456789.125, 1.0 / 3.0, 2.5e-8, 100000, 1e6, -0.0, 0.0};
  Schema schema{"s", {float_list("x", values, "X.")}};
  Spec spec = load_spec_text(schema, "", "inline", "/");
  Spec reloaded = load_spec_text(schema, spec.to_yaml(), "again", "/");
  ASSERT_EQ(reloaded.get_float_list("x").size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::signbit(reloaded.get_float_list("x")[i]), std::signbit(values[i])) << i;
    EXPECT_EQ(reloaded.get_float_list("x")[i], values[i]) << i;
  }
  EXPECT_EQ(spec.to_yaml(),
            "x: [1.0e300, -1.0e-300, 123456789.125, 0.3333333333333333, 2.5e-8, 100000.0, "
            "1000000.0, -0.0, 0.0]\n");
}

TEST_F(SpecValues, ToYamlWritesNestedGroupsInSchemaOrder) {
  Spec spec = load_spec_text(test_schema(), kMinimal, "inline", dir_.path());
  const std::string yaml = spec.to_yaml();
  EXPECT_EQ(yaml.substr(0, yaml.find("train:")),
            "model:\n  arch: \"lenet5\"\n  layers: 18\n  dropout: 0.0\n  bn: true\n  size: \"1,28,28\"\n"
            "  freeze: []\n  mean: [0.5]\n  tags: [\"a\"]\n");
  EXPECT_NE(yaml.find("  optimizer:\n    sgd:\n      momentum: 0.9\n      nesterov: false\n"), std::string::npos)
      << yaml;
  expect_equal_specs(spec, load_spec_text(test_schema(), yaml, "again", "/"));
}

TEST_F(SpecValues, ToYamlKeepsAChosenAlternativeWithoutKeys) {
  Schema schema{"s", {one_of("mode", {group("fast", {}), group("slow", {integer("n", 3, "N.")})}, "slow")}};
  Spec spec = load_spec_text(schema, "mode: fast\n", "inline", "/");
  EXPECT_EQ(spec.choice("mode"), "fast");
  Spec reloaded = load_spec_text(schema, spec.to_yaml(), "again", "/");
  EXPECT_EQ(reloaded.choice("mode"), "fast");
}

}  // namespace
}  // namespace kiln::specs
