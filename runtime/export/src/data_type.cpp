// The export data types' names (TAO's --data_type values), shared by builds with and without ONNX export.
#include <string>

#include "kiln/common/error.h"
#include "kiln/export/export.h"

namespace kiln::runtime {

const char* data_type_name(DataType t) {
  switch (t) {
    case DataType::kFp32:
      return "fp32";
    case DataType::kFp16:
      return "fp16";
    case DataType::kInt8:
      return "int8";
  }
  return "?";
}

DataType parse_data_type(const std::string& name) {
  if (name == "fp32") return DataType::kFp32;
  if (name == "fp16") return DataType::kFp16;
  if (name == "int8") return DataType::kInt8;
  throw UsageError("unknown export data type '" + name + "' (expected fp32, fp16 or int8)");
}

}  // namespace kiln::runtime
