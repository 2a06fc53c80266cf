// A hostile spec (an alias bomb, deep nesting, a huge file or list, an alias cycle) is refused with one issue that
// names the limit and the file, from the file and from an override alike, before any of it is expanded.
#include <gtest/gtest.h>

#include "specs/spec_test_util.h"

namespace kiln::specs {
namespace {

using Lines = std::vector<std::string>;
using testing::issues_of;
using testing::TempDir;
using testing::test_schema;

// "a0: &a0 [x, x, ...]", then "a<i>: &a<i> [*a<i-1>, ...]": `levels` levels of `width` aliases each, so the last
// expands to width^levels leaves. Flow style, so the same text is an override value.
std::string alias_bomb(int levels, int width) {
  std::string yaml = "{a0: &a0 [";
  for (int j = 0; j < width; ++j) yaml += j ? ", x" : "x";
  yaml += "]";
  for (int i = 1; i < levels; ++i) {
    yaml += ", a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < width; ++j) yaml += (j ? ", *a" : "*a") + std::to_string(i - 1);
    yaml += "]";
  }
  return yaml + "}";
}

std::string nested_lists(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

class SpecLimitsTest : public ::testing::Test {
 protected:
  Lines problems_of_file(const std::string& yaml) {
    const std::string file = dir_.write("t.yaml", yaml);
    return issues_of([&] { load_spec(test_schema(), file); });
  }
  Lines problems_of_override(const std::string& text) {
    const std::string file = dir_.write("t.yaml", testing::kMinimal);
    return issues_of([&] { load_spec(test_schema(), file, {text}); });
  }
  std::string file() const { return dir_.path() + "/t.yaml"; }

  TempDir dir_;
};

const char* const kExpanded = "aliases expand to more than 20000 YAML nodes (the limit)";

// 6 levels of 10: 10^6 leaves when expanded; the text is 340 bytes. The 4th level's first alias crosses the limit
// (12,354 nodes before it, each alias of the 3rd level adds 11,111).
TEST_F(SpecLimitsTest, AliasBombInTheFileIsRefusedAtTheAliasThatCrossesTheLimit) {
  EXPECT_EQ(problems_of_file("model:\n  tags: " + alias_bomb(6, 10) + "\n"),
            Lines({file() + ":2:239: " + kExpanded}));
}

TEST_F(SpecLimitsTest, AliasBombInAnOverrideIsRefused) {
  const Lines lines = problems_of_override("model.tags=" + alias_bomb(6, 10));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].rfind("<command line>: model.tags: cannot parse value '{a0: &a0 [x, x", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(std::string("(340 bytes)': ") + kExpanded), std::string::npos) << lines[0];
}

TEST_F(SpecLimitsTest, AliasesWithinTheLimitAreExpanded) {
  const std::string yaml = "model:\n  arch: lenet5\ndata:\n  train:\n    root: r\n";
  const Spec spec = load_spec(test_schema(), dir_.write("t.yaml", yaml), {"model.tags=[&t x, *t, *t]"});
  EXPECT_EQ(spec.get_string_list("model.tags"), (std::vector<std::string>{"x", "x", "x"}));
}

TEST_F(SpecLimitsTest, DeepNestingIsRefused) {
  EXPECT_EQ(problems_of_file("model:\n  tags: " + nested_lists(40) + "\n"),
            Lines({file() + ":2:39: maps and lists are nested deeper than 32 levels (the limit)"}));
  const Lines lines = problems_of_override("model.tags=" + nested_lists(40));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("': maps and lists are nested deeper than 32 levels (the limit)"), std::string::npos)
      << lines[0];
}

// Each alias nests the one before one level deeper: 42 levels when expanded, 4 in the text. Under the root map,
// model and tags, the alias in l28 makes 33.
TEST_F(SpecLimitsTest, DeepNestingThroughAliasesIsRefused) {
  std::string yaml = "model:\n  tags:\n    - &l0 [x]\n";
  for (int i = 1; i < 40; ++i) yaml += "    - &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) + "]\n";
  EXPECT_EQ(problems_of_file(yaml),
            Lines({file() + ":31:13: maps and lists are nested deeper than 32 levels (the limit)"}));
}

TEST_F(SpecLimitsTest, AliasCycleIsRefused) {
  EXPECT_EQ(problems_of_file("model:\n  tags: &c [x, *c]\n"),
            Lines({file() + ":2:16: an alias inside the node it names (a cycle)"}));
}

TEST_F(SpecLimitsTest, LongListIsRefused) {
  std::string list = "[1";
  for (int i = 1; i < 30000; ++i) list += ",1";
  EXPECT_EQ(problems_of_file("model:\n  tags: " + list + "]\n"),
            Lines({file() + ":2:40000: more than 20000 YAML nodes (the limit)"}));
}

TEST_F(SpecLimitsTest, OversizedFileIsRefusedWithoutParsingIt) {
  const std::string comment = "# " + std::string(SpecLimits::kMaxBytes, 'x') + "\n";
  EXPECT_EQ(problems_of_file(std::string(testing::kMinimal) + comment),
            Lines({file() + ": the spec file is larger than 1024 KiB (the limit)"}));
}

TEST_F(SpecLimitsTest, OversizedOverrideValueIsRefused) {
  const Lines lines = problems_of_override("model.size=" + std::string(SpecLimits::kMaxBytes + 1, 'x'));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("(1048577 bytes)': the value is larger than 1024 KiB (the limit)"), std::string::npos)
      << lines[0];
}

}  // namespace
}  // namespace kiln::specs
