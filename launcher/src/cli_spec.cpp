// `kiln spec import FILE`: a TAO spec (protobuf text format) as a kiln YAML spec, every key accounted for
// (docs/migrating_from_tao.md).
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_commands.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/migrate/tao_import.h"

namespace kiln::launcher::cli {
namespace {

struct ImportArgs {
  std::string file, output, network = "auto", kind = "auto";
  bool strict = false, force = false;
};

migrate::Network network_of(const std::string& name) {
  if (name == "classification") return migrate::Network::kClassification;
  if (name == "detectnet_v2") return migrate::Network::kDetectNetV2;
  return migrate::Network::kAuto;
}

migrate::Kind kind_of(const std::string& name) {
  if (name == "train") return migrate::Kind::kTrain;
  if (name == "convert") return migrate::Kind::kConvert;
  if (name == "inference") return migrate::Kind::kInference;
  return migrate::Kind::kAuto;
}

int run_import(const ImportArgs& a) {
  namespace fs = std::filesystem;
  if (!a.output.empty() && fs::exists(a.output) && !a.force) {
    throw UsageError("kiln spec import: " + a.output + " exists; --force replaces it");
  }
  const std::string out_dir = a.output.empty() ? fs::current_path().string()
                                               : fs::absolute(a.output).parent_path().string();
  const migrate::Imported imported = migrate::import_tao_spec(a.file, network_of(a.network), kind_of(a.kind), out_dir);
  std::ostream& table = a.output.empty() ? std::cerr : std::cout;
  table << a.file << ": TAO " << migrate::name_of(imported.network) << " " << migrate::name_of(imported.kind)
        << " spec\n"
        << migrate::key_table(imported);
  const size_t unsupported = imported.count(migrate::Outcome::kUnsupported);
  if (a.strict && unsupported > 0) {
    throw UsageError("kiln spec import --strict: " + std::to_string(unsupported) +
                     " key(s) not supported (listed above); nothing written");
  }
  for (const auto& issue : imported.validation) {
    table << "note: kiln's validation of the result: " << issue.str() << "\n";
  }
  if (a.output.empty()) {
    std::cout << imported.yaml;
  } else {
    atomic_write_string(a.output, imported.yaml);
    table << "wrote " << a.output << "\n";
  }
  return 0;
}

Action bind_import(CLI::App& cmd) {
  auto a = std::make_shared<ImportArgs>();
  cmd.add_option("file", a->file, "TAO spec in protobuf text format")->required()->check(CLI::ExistingFile);
  cmd.add_option("--network", a->network, "classification or detectnet_v2 (default: from the file's keys)")
      ->check(CLI::IsMember({"auto", "classification", "detectnet_v2"}));
  cmd.add_option("--kind", a->kind, "train, convert (dataset_convert) or inference (default: from the file's keys)")
      ->check(CLI::IsMember({"auto", "train", "convert", "inference"}));
  cmd.add_option("-o,--output", a->output, "kiln YAML spec to write (default: standard output, the table on stderr)");
  cmd.add_flag("--strict", a->strict, "Any key kiln does not support is an error (exit 2)");
  cmd.add_flag("--force", a->force, "Replace the output file if it exists");
  return [a](const Invocation&) { return run_import(*a); };
}

}  // namespace

void add_spec_commands(CommandTable& table) {
  table.group("spec", "Spec tools");
  table.command({"spec", "import"}, "Convert a TAO spec (protobuf text) into a kiln YAML spec, key by key",
                bind_import);
}

}  // namespace kiln::launcher::cli
