// docs/specs.md carries the generated schema reference; this keeps it in step with the schemas.
// KILN_UPDATE_DOCS=1 rewrites the generated regions instead of comparing them.
#include <gtest/gtest.h>

#include "kiln/specs/classification.h"
#include "kiln/specs/detectnet_v2.h"
#include "support/generated_docs.h"

namespace kiln::specs {
namespace {

void check_region(const std::string& name, const Schema& schema) {
  test_support::check_generated_region("docs/specs.md", name, describe_schema(schema));
}

TEST(SpecDocs, ClassificationReferenceIsCurrent) { check_region("classification", classification_schema()); }

TEST(SpecDocs, ConvertReferenceIsCurrent) { check_region("convert", classification_convert_schema()); }

TEST(SpecDocs, DetectNetV2ReferenceIsCurrent) { check_region("detectnet_v2", detectnet_v2_schema()); }

TEST(SpecDocs, DetectNetV2ConvertReferenceIsCurrent) {
  check_region("detectnet_v2_convert", detectnet_v2_convert_schema());
}

}  // namespace
}  // namespace kiln::specs
