#include <nlohmann/json.hpp>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/networks/network.h"

namespace kiln::networks {

nlohmann::json Architecture::to_json() const {
  nlohmann::json j{{"arch", arch},
                   {"n_layers", n_layers},
                   {"in_channels", in_channels},
                   {"height", height},
                   {"width", width},
                   {"num_classes", num_classes},
                   {"use_batch_norm", use_batch_norm},
                   {"use_bias", use_bias},
                   {"dropout", dropout},
                   {"base_width", base_width},
                   {"channels", channels}};
  if (arch == "detectnet_v2") j["output_stride"] = output_stride;  // classification files stay as they were
  return j;
}

Architecture Architecture::from_json(const nlohmann::json& j) {
  try {
    Architecture a;
    a.arch = j.at("arch").get<std::string>();
    a.n_layers = j.at("n_layers").get<int>();
    a.in_channels = j.at("in_channels").get<int>();
    a.height = j.at("height").get<int>();
    a.width = j.at("width").get<int>();
    a.num_classes = j.at("num_classes").get<int>();
    a.use_batch_norm = j.at("use_batch_norm").get<bool>();
    a.use_bias = j.at("use_bias").get<bool>();
    a.dropout = j.at("dropout").get<double>();
    a.base_width = j.at("base_width").get<int>();
    a.channels = j.at("channels").get<std::map<std::string, int64_t>>();
    a.output_stride = j.value("output_stride", 16);
    return a;
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("malformed architecture description: ") + e.what());
  }
}

std::string Architecture::summary() const {
  std::ostringstream os;
  const bool detectnet = arch == "detectnet_v2";
  os << arch << (arch == "resnet" ? std::to_string(n_layers) : "")
     << (detectnet ? " resnet" + std::to_string(n_layers) : "") << " " << in_channels << "x" << height << "x" << width
     << " -> " << num_classes << " classes" << (detectnet ? ", stride " + std::to_string(output_stride) : "")
     << (use_batch_norm ? ", batch norm" : "");
  if (arch == "resnet" || detectnet) os << ", width " << base_width;
  return os.str();
}

int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace kiln::networks
