// Command-line overrides (key.path=value): parsed as YAML, merged before validation, reported as <command line>.
#include <gtest/gtest.h>

#include <filesystem>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using Lines = std::vector<std::string>;
using testing::issues_of;
using testing::kMinimal;
using testing::TempDir;
using testing::test_schema;

class SpecOverrides : public ::testing::Test {
 protected:
  Spec load(const std::string& yaml, const std::vector<std::string>& overrides) {
    return load_spec(test_schema(), dir_.write("t.yaml", yaml), overrides);
  }
  Lines problems(const std::string& yaml, const std::vector<std::string>& overrides) {
    const std::string file = dir_.write("t.yaml", yaml);
    Lines lines = issues_of([&] { load_spec(test_schema(), file, overrides); });
    for (auto& line : lines) {
      if (line.rfind(file, 0) == 0) line = "t.yaml" + line.substr(file.size());
    }
    return lines;
  }

  TempDir dir_;
};

TEST_F(SpecOverrides, ValuesAreParsedAsYaml) {
  Spec spec = load(kMinimal, {"train.batch=5", "train.lr=0.25", "model.bn=false", "model.freeze=[1, 2]",
                              "model.arch=resnet", "model.tags=[x, 'y z']", "model.size=3,32,32"});
  EXPECT_EQ(spec.get_int("train.batch"), 5);
  EXPECT_EQ(spec.get_float("train.lr"), 0.25);
  EXPECT_FALSE(spec.get_bool("model.bn"));
  EXPECT_EQ(spec.get_int_list("model.freeze"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(spec.get_string("model.arch"), "resnet");
  EXPECT_EQ(spec.get_string_list("model.tags"), (std::vector<std::string>{"x", "y z"}));
  EXPECT_EQ(spec.get_string("model.size"), "3,32,32");
  EXPECT_EQ(spec.location("train.batch").str(), "<command line>");
  EXPECT_EQ(spec.location("model.arch").str(), "<command line>");
}

TEST_F(SpecOverrides, OverrideReplacesTheFileValueAndSuppliesMissingRequiredKeys) {
  Spec spec = load("model:\n  arch: lenet5\n  layers: 4\n", {"model.layers=8", "data.train.root=/data"});
  EXPECT_EQ(spec.get_int("model.layers"), 8);
  EXPECT_EQ(spec.get_string("data.train.root"), "/data");
  EXPECT_EQ(spec.get_int("data.train.limit"), 0);
  EXPECT_EQ(spec.location("model.arch").line, 2);
}

TEST_F(SpecOverrides, LaterOverrideWins) {
  EXPECT_EQ(load(kMinimal, {"train.batch=5", "train.batch=7"}).get_int("train.batch"), 7);
}

TEST_F(SpecOverrides, WrongTypeNamesTheOverride) {
  EXPECT_EQ(problems(kMinimal, {"train.batch=abc", "model.bn=1", "model.freeze=3"}),
            Lines({"<command line>: train.batch: expected an integer, got 'abc'",
                   "<command line>: model.bn: expected true or false, got '1'",
                   "<command line>: model.freeze: expected a list of integers, got '3'"}));
}

TEST_F(SpecOverrides, RangeAndChecksApply) {
  EXPECT_EQ(problems(kMinimal, {"train.batch=0", "model.layers=7", "model.freeze=[1, 9]"}),
            Lines({"<command line>: train.batch: 0 is out of range (must be in [1, 1024])",
                   "<command line>: model.layers: must be even",
                   "<command line>: model.freeze[1]: 9 is out of range (must be in [0, 4])"}));
}

TEST_F(SpecOverrides, UnknownKeysGetSuggestions) {
  EXPECT_EQ(problems(kMinimal, {"train.bach=3", "trian.batch=3", "train.optimizer.adamw.beta_1=0.5", "zzz.q=1"}),
            Lines({"<command line>: train.bach: unknown key 'bach' (did you mean 'batch'?)",
                   "<command line>: trian.batch: unknown key 'trian' (did you mean 'train'?)",
                   "<command line>: train.optimizer.adamw.beta_1: unknown key 'adamw' (did you mean 'adam'?)",
                   "<command line>: zzz.q: unknown key 'zzz'"}));
}

TEST_F(SpecOverrides, MalformedOverrides) {
  EXPECT_EQ(problems(kMinimal, {"train.batch", "=5", "train..batch=5", "train.batch.x=1", "model.size=[1, 2"}),
            Lines({"<command line>: malformed override 'train.batch' (expected key.path=value)",
                   "<command line>: malformed override '=5' (expected key.path=value)",
                   "<command line>: malformed override 'train..batch=5' (expected key.path=value)",
                   "<command line>: train.batch.x: 'batch' is a single value, it has no key 'x'",
                   "<command line>: model.size: cannot parse value '[1, 2': YAML syntax error: "
                   "end of sequence flow not found"}));
}

TEST_F(SpecOverrides, FileProblemsComeFirstThenTheCommandLine) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  layers: x\ndata:\n  train:\n    root: r\n", {"train.batch=y"}),
            Lines({"t.yaml:3:11: model.layers: expected an integer, got 'x'",
                   "<command line>: train.batch: expected an integer, got 'y'"}));
}

TEST_F(SpecOverrides, OverridesAreCheckedEvenWhenTheFileDoesNotParse) {
  EXPECT_EQ(problems("model: [\n", {"train.bach=3"}),
            Lines({"t.yaml:2:1: YAML syntax error: end of sequence flow not found",
                   "<command line>: train.bach: unknown key 'bach' (did you mean 'batch'?)"}));
}

TEST_F(SpecOverrides, KeyInTheSameAlternativeKeepsTheFileChoice) {
  Spec spec = load(std::string(kMinimal) + "train:\n  optimizer:\n    sgd:\n      momentum: 0.5\n",
                   {"train.optimizer.sgd.nesterov=true"});
  EXPECT_EQ(spec.choice("train.optimizer"), "sgd");
  EXPECT_EQ(spec.get_float("train.optimizer.sgd.momentum"), 0.5);
  EXPECT_TRUE(spec.get_bool("train.optimizer.sgd.nesterov"));
}

TEST_F(SpecOverrides, KeyInAnotherAlternativeSwitchesTheChoice) {
  Spec spec = load(std::string(kMinimal) + "train:\n  optimizer:\n    sgd:\n      momentum: 0.5\n",
                   {"train.optimizer.adam.beta_1=0.8"});
  EXPECT_EQ(spec.choice("train.optimizer"), "adam");
  EXPECT_EQ(spec.get_float("train.optimizer.adam.beta_1"), 0.8);
  EXPECT_EQ(spec.get_float("train.optimizer.adam.epsilon"), 1e-7);
  EXPECT_FALSE(spec.has("train.optimizer.sgd.momentum"));
  EXPECT_FALSE(spec.has("train.optimizer.sgd.nesterov"));
}

TEST_F(SpecOverrides, SwitchingAlsoWorksFromTheShorthandAndFromTheDefault) {
  Spec from_shorthand =
      load(std::string(kMinimal) + "train:\n  optimizer: adam\n", {"train.optimizer.sgd.momentum=0.2"});
  EXPECT_EQ(from_shorthand.choice("train.optimizer"), "sgd");
  EXPECT_EQ(from_shorthand.get_float("train.optimizer.sgd.momentum"), 0.2);
  EXPECT_FALSE(from_shorthand.has("train.optimizer.adam.beta_1"));

  Spec from_default = load(kMinimal, {"train.optimizer.adam.epsilon=1e-8"});
  EXPECT_EQ(from_default.choice("train.optimizer"), "adam");
  EXPECT_EQ(from_default.get_float("train.optimizer.adam.epsilon"), 1e-8);
}

TEST_F(SpecOverrides, WholeGroupsCanBeGiven) {
  Spec by_name =
      load(std::string(kMinimal) + "train:\n  optimizer: {sgd: {momentum: 0.1}}\n", {"train.optimizer=adam"});
  EXPECT_EQ(by_name.choice("train.optimizer"), "adam");
  EXPECT_EQ(by_name.get_float("train.optimizer.adam.beta_1"), 0.9);

  Spec by_map = load(kMinimal, {"train.reg={weight_decay: 0.01}"});
  EXPECT_EQ(by_map.get_float("train.reg.weight_decay"), 0.01);

  EXPECT_EQ(problems(kMinimal, {"train.optimizer={adam: {beta_1: 2}, sgd: {}}"}),
            Lines({"<command line>: train.optimizer: give only one of sgd, adam (got 'adam' and 'sgd')",
                   "<command line>: train.optimizer.adam.beta_1: 2 is out of range (must be in [0, 1])"}));
}

TEST_F(SpecOverrides, EmptyValueIsTheEmptyString) {
  Spec spec = load(std::string(kMinimal) + "train:\n  weights: t.yaml\n", {"train.weights="});
  EXPECT_EQ(spec.get_string("train.weights"), "");
}

TEST_F(SpecOverrides, RelativePathsResolveAgainstTheWorkingDirectory) {
  Spec spec = load(kMinimal, {"train.output=out/run1", "train.weights=" + dir_.path() + "/t.yaml"});
  EXPECT_EQ(spec.get_string("train.output"), (std::filesystem::current_path() / "out/run1").string());
  EXPECT_EQ(spec.get_string("train.weights"), dir_.path() + "/t.yaml");
  EXPECT_EQ(problems(kMinimal, {"train.weights=no/such/file"}),
            Lines({"<command line>: train.weights: path does not exist: " +
                   (std::filesystem::current_path() / "no/such/file").string()}));
}

}  // namespace
}  // namespace kiln::specs
