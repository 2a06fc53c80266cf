// Every kind of spec problem is reported with its exact file:line:column, and all of them at once.
#include <gtest/gtest.h>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using Lines = std::vector<std::string>;
using testing::issues_of;
using testing::TempDir;
using testing::test_schema;

class SpecErrors : public ::testing::Test {
 protected:
  // Writes `yaml` as t.yaml, loads it, and returns the issue lines with the temp dir replaced by "DIR".
  std::vector<std::string> problems(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    const std::string file = dir_.write("t.yaml", yaml);
    std::vector<std::string> lines = issues_of([&] { load_spec(test_schema(), file, overrides); });
    for (auto& line : lines) {
      for (size_t pos; (pos = line.find(dir_.path())) != std::string::npos;)
        line.replace(pos, dir_.path().size(), "DIR");
    }
    return lines;
  }

  TempDir dir_;
};

TEST_F(SpecErrors, YamlSyntaxErrorIsOneIssueAtTheParserLocation) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n layers: 4\n"),
            Lines({"DIR/t.yaml:3:2: YAML syntax error: end of map not found"}));
}

TEST_F(SpecErrors, SecondYamlDocumentIsNotIgnored) {
  EXPECT_EQ(problems(std::string(testing::kMinimal) + "---\nmodel: {}\n"),
            Lines({"DIR/t.yaml:7:1: a spec holds one YAML document, found 2"}));
}

TEST_F(SpecErrors, TopLevelMustBeAMap) {
  EXPECT_EQ(problems("- model\n- train\n"),
            Lines({"DIR/t.yaml:1:1: expected a map of groups (model, train, data) at the top level, got a list"}));
}

TEST_F(SpecErrors, UnknownKeySuggestsTheClosestSibling) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  layres: 4\n  colour: red\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:3:3: model.layres: unknown key 'layres' (did you mean 'layers'?)",
                   "DIR/t.yaml:4:3: model.colour: unknown key 'colour'"}));
}

TEST_F(SpecErrors, UnknownTopLevelGroup) {
  EXPECT_EQ(problems(std::string(testing::kMinimal) + "trian:\n  batch: 3\n"),
            Lines({"DIR/t.yaml:6:1: trian: unknown key 'trian' (did you mean 'train'?)"}));
}

TEST_F(SpecErrors, WrongTypes) {
  EXPECT_EQ(problems("model:\n"
                     "  arch: lenet5\n"
                     "  layers: abc\n"
                     "  dropout: [1]\n"
                     "  bn: yes\n"
                     "  size: {a: 1}\n"
                     "  freeze: 3\n"
                     "train:\n"
                     "  batch: 3.5\n"
                     "  lr: \"0.5\"\n"
                     "  reg: 5\n"
                     "data:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:3:11: model.layers: expected an integer, got 'abc'",
                   "DIR/t.yaml:4:12: model.dropout: expected a number, got a list",
                   "DIR/t.yaml:5:7: model.bn: expected true or false, got 'yes'",
                   "DIR/t.yaml:6:9: model.size: expected a string, got a map",
                   "DIR/t.yaml:7:11: model.freeze: expected a list of integers, got '3'",
                   "DIR/t.yaml:9:10: train.batch: expected an integer, got '3.5'",
                   "DIR/t.yaml:10:7: train.lr: expected a number, got \"0.5\" (quoted, so a string)",
                   "DIR/t.yaml:11:8: train.reg: expected a group of keys (a map), got '5'"}));
}

TEST_F(SpecErrors, EmptyValueIsNotAString) {
  EXPECT_EQ(problems("model:\n  arch:\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:2:3: model.arch: expected a string, got no value"}));
}

TEST_F(SpecErrors, OutOfRangeIsInclusiveAndChecksEachListElement) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  layers: 102\n  dropout: 0.9\n  freeze: [0, 5, 4, -1]\n"
                     "train:\n  batch: 1024\n  lr: 0\ndata:\n  train:\n    root: r\n    limit: -1\n"),
            Lines({"DIR/t.yaml:3:11: model.layers: 102 is out of range (must be in [1, 100])",
                   "DIR/t.yaml:5:15: model.freeze[1]: 5 is out of range (must be in [0, 4])",
                   "DIR/t.yaml:5:21: model.freeze[3]: -1 is out of range (must be in [0, 4])",
                   "DIR/t.yaml:8:7: train.lr: 0 is out of range (must be in (0, 10])",
                   "DIR/t.yaml:12:12: data.train.limit: -1 is out of range (must be in [0, 100])"}));
}

TEST_F(SpecErrors, ListLengthLimits) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  mean: []\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:3:9: model.mean: expected 1 to 3 values, got 0"}));
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  mean:\n    - 0.1\n    - 0.2\n    - 0.3\n    - 0.4\n"
                     "data:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:4:5: model.mean: expected 1 to 3 values, got 4"}));
}

TEST_F(SpecErrors, ListElementTypes) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  mean: [0.1, x]\n  tags: [a, [b]]\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:3:15: model.mean[1]: expected a number, got 'x'",
                   "DIR/t.yaml:4:13: model.tags[1]: expected a string, got a list"}));
}

TEST_F(SpecErrors, EnumListsTheChoices) {
  EXPECT_EQ(problems("model:\n  arch: resnt\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:2:9: model.arch: 'resnt' is not one of: lenet5, resnet (did you mean 'resnet'?)"}));
  EXPECT_EQ(problems("model:\n  arch: vgg16\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:2:9: model.arch: 'vgg16' is not one of: lenet5, resnet"}));
}

TEST_F(SpecErrors, MissingRequiredKeyPointsAtItsParentMap) {
  EXPECT_EQ(problems("# a comment\nmodel:\n  layers: 4\ndata:\n  train: {}\n"),
            Lines({"DIR/t.yaml:3:3: model.arch: missing required key",
                   "DIR/t.yaml:5:10: data.train.root: missing required key"}));
  EXPECT_EQ(problems("model:\n  arch: lenet5\n"), Lines({"DIR/t.yaml:1:1: data: missing required key"}));
  EXPECT_EQ(problems("model:\n  arch: lenet5\ndata:\n  val:\n    limit: 3\n"),
            Lines({"DIR/t.yaml:4:3: data.train: missing required key",
                   "DIR/t.yaml:5:5: data.val.root: missing required key"}));
}

TEST_F(SpecErrors, EmptyFileHasOnlyDefaultsSoRequiredKeysAreMissing) {
  EXPECT_EQ(problems(""),
            Lines({"DIR/t.yaml:1:1: model: missing required key", "DIR/t.yaml:1:1: data: missing required key"}));
}

TEST_F(SpecErrors, OneOfAllowsOnlyOneAlternative) {
  EXPECT_EQ(problems(std::string(testing::kMinimal) +
                     "train:\n  optimizer:\n    sgd: {momentum: 0.5}\n    adam: {beta_1: 2}\n    adm: {}\n"),
            Lines({"DIR/t.yaml:9:5: train.optimizer: give only one of sgd, adam (got 'sgd' and 'adam')",
                   "DIR/t.yaml:10:5: train.optimizer.adm: unknown key 'adm' (did you mean 'adam'?)"}));
  EXPECT_EQ(problems(std::string(testing::kMinimal) + "train:\n  optimizer: rmsprop\n"),
            Lines({"DIR/t.yaml:7:14: train.optimizer: 'rmsprop' is not one of: sgd, adam"}));
}

TEST_F(SpecErrors, MissingPathIsReportedResolved) {
  EXPECT_EQ(problems(std::string(testing::kMinimal) + "train:\n  weights: sub/../w.bin\n  output: nowhere/out\n"),
            Lines({"DIR/t.yaml:7:12: train.weights: path does not exist: DIR/w.bin"}));
}

TEST_F(SpecErrors, FieldCheckMessage) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  layers: 5\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:3:11: model.layers: must be even"}));
}

TEST_F(SpecErrors, DuplicateKey) {
  EXPECT_EQ(problems("model:\n  arch: lenet5\n  arch: resnet\ndata:\n  train:\n    root: r\n"),
            Lines({"DIR/t.yaml:3:3: model.arch: duplicate key 'arch' (it is already set above)"}));
}

TEST_F(SpecErrors, AllProblemsAreReportedAtOnceWithAHeader) {
  const std::string file = dir_.write("many.yaml", "model:\n  arch: lenet6\n  layers: 0\ntrain:\n  bach: 3\n");
  try {
    load_spec(test_schema(), file);
    FAIL() << "expected a SpecError";
  } catch (const SpecError& e) {
    EXPECT_EQ(e.code(), ExitCode::kUsage);
    EXPECT_EQ(std::string(e.what()),
              "invalid spec " + file + ": 4 problems\n" + file + ":1:1: data: missing required key\n" + file +
                  ":2:9: model.arch: 'lenet6' is not one of: lenet5, resnet (did you mean 'lenet5'?)\n" + file +
                  ":3:11: model.layers: 0 is out of range (must be in [1, 100])\n" + file +
                  ":5:3: train.bach: unknown key 'bach' (did you mean 'batch'?)");
  }
}

TEST_F(SpecErrors, OneProblemHeaderIsSingular) {
  try {
    load_spec_text(test_schema(), "model: {arch: x}\ndata: {train: {root: r}}\n", "inline.yaml", dir_.path());
    FAIL() << "expected a SpecError";
  } catch (const SpecError& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid spec inline.yaml: 1 problem\ninline.yaml:1:15: model.arch: 'x' is not one of: lenet5, resnet");
  }
}

TEST_F(SpecErrors, MissingSpecFileIsOneIssueNamingTheFile) {
  const std::string file = dir_.path() + "/absent.yaml";
  EXPECT_EQ(issues_of([&] { load_spec(test_schema(), file); }), Lines({file + ": spec file not found"}));
  EXPECT_EQ(issues_of([&] { load_spec(test_schema(), dir_.path()); }),
            Lines({dir_.path() + ": is a directory, not a spec file"}));
}

}  // namespace
}  // namespace kiln::specs
