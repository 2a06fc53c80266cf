// The names of import's enums and the key table printed by `kiln spec import`; needs no protobuf, so a build without
// it (KILN_WITH_PROTOBUF=OFF, migrate/CMakeLists.txt) keeps this file next to import_unavailable.cpp.
#include <algorithm>
#include <sstream>
#include <string>

#include "kiln/migrate/tao_import.h"

namespace kiln::migrate {

const char* name_of(Network network) {
  switch (network) {
    case Network::kClassification: return "classification";
    case Network::kDetectNetV2: return "detectnet_v2";
    case Network::kAuto: break;
  }
  return "auto";
}

const char* name_of(Kind kind) {
  switch (kind) {
    case Kind::kTrain: return "train";
    case Kind::kConvert: return "convert";
    case Kind::kInference: return "inference";
    case Kind::kAuto: break;
  }
  return "auto";
}

const char* name_of(Outcome outcome) {
  switch (outcome) {
    case Outcome::kMapped: return "mapped";
    case Outcome::kChanged: return "changed";
    case Outcome::kUnsupported: break;
  }
  return "unsupported";
}

size_t Imported::count(Outcome outcome) const {
  size_t n = 0;
  for (const auto& k : keys) n += k.outcome == outcome ? 1 : 0;
  return n;
}

std::string key_table(const Imported& imported) {
  std::ostringstream out;
  size_t width = 7;
  for (const auto& k : imported.keys) width = std::max(width, k.tao_key.size());
  out << "line  result       " << std::string("TAO key") << std::string(width - 7 + 2, ' ') << "kiln key\n";
  for (const auto& k : imported.keys) {
    std::string line = std::to_string(k.where.line);
    out << std::string(line.size() < 4 ? 4 - line.size() : 0, ' ') << line << "  " << name_of(k.outcome)
        << std::string(13 - std::string(name_of(k.outcome)).size(), ' ') << k.tao_key
        << std::string(width - k.tao_key.size() + 2, ' ') << k.kiln_key << "\n";
    if (!k.note.empty()) out << "        " << k.note << "\n";
  }
  out << imported.keys.size() << " key(s): " << imported.count(Outcome::kMapped) << " mapped, "
      << imported.count(Outcome::kChanged) << " changed, " << imported.count(Outcome::kUnsupported)
      << " not supported";
  if (!imported.defaults.empty()) out << "; " << imported.defaults.size() << " kiln key(s) set to TAO's defaults";
  out << "\n";
  return out.str();
}

}  // namespace kiln::migrate
