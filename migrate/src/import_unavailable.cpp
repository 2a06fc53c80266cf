// `kiln spec import` in a build without protobuf (KILN_WITH_PROTOBUF=OFF; migrate/CMakeLists.txt compiles this file
// and key_report.cpp in place of the protobuf reader and the rules): every entry point that needs TAO's spec
// messages throws a UsageError naming the option.
#include <string>
#include <vector>

#include "kiln/common/error.h"
#include "kiln/migrate/tao_import.h"

namespace kiln::migrate {
namespace {

[[noreturn]] void without(const std::string& what) {
  throw UsageError(what + ": kiln was built without protobuf (KILN_WITH_PROTOBUF=OFF), which reads TAO's spec "
                          "messages; use a build configured with -DKILN_WITH_PROTOBUF=ON");
}

}  // namespace

Imported import_tao_spec(const std::string& file, Network, Kind, const std::string&) {
  without("kiln spec import " + file);
}

std::vector<RuleRow> mapping_rules() { without("the TAO mapping rules"); }

std::string mapping_reference() { without("the TAO mapping reference"); }

}  // namespace kiln::migrate
