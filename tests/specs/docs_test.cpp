// docs/specs.md carries the generated schema reference; this keeps it in step with the schemas.
// KILN_UPDATE_DOCS=1 rewrites the generated regions instead of comparing them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kiln/specs/classification.h"
#include "kiln/specs/detectnet_v2.h"

namespace kiln::specs {
namespace {

const std::string kDocs = std::string(KILN_SOURCE_DIR) + "/docs/specs.md";

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool updating() {
  const char* v = std::getenv("KILN_UPDATE_DOCS");
  return v && std::string(v) == "1";
}

void check_region(const std::string& name, const Schema& schema) {
  std::string docs = read(kDocs);
  ASSERT_FALSE(docs.empty()) << "cannot read " << kDocs;
  const std::string begin = "<!-- BEGIN GENERATED " + name + " -->\n";
  const std::string end = "<!-- END GENERATED " + name + " -->";
  const size_t b = docs.find(begin);
  const size_t e = docs.find(end);
  ASSERT_TRUE(b != std::string::npos && e != std::string::npos && b < e)
      << kDocs << " needs the markers '" << begin.substr(0, begin.size() - 1) << "' and '" << end << "'";
  const size_t from = b + begin.size();
  const std::string expected = "\n" + describe_schema(schema) + "\n";
  if (updating()) {
    docs.replace(from, e - from, expected);
    std::ofstream(kDocs) << docs;
    return;
  }
  EXPECT_EQ(docs.substr(from, e - from), expected)
      << kDocs << " is out of date; regenerate it with KILN_UPDATE_DOCS=1 and this test";
}

TEST(SpecDocs, ClassificationReferenceIsCurrent) { check_region("classification", classification_schema()); }

TEST(SpecDocs, ConvertReferenceIsCurrent) { check_region("convert", classification_convert_schema()); }

TEST(SpecDocs, DetectNetV2ReferenceIsCurrent) { check_region("detectnet_v2", detectnet_v2_schema()); }

TEST(SpecDocs, DetectNetV2ConvertReferenceIsCurrent) {
  check_region("detectnet_v2_convert", detectnet_v2_convert_schema());
}

}  // namespace
}  // namespace kiln::specs
