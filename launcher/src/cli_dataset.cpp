// `kiln dataset synth_kitti`: synthetic KITTI detection data (docs/synth_kitti.md).
#include <memory>

#include "cli_commands.h"
#include "kiln/detection/synth.h"

namespace kiln::launcher::cli {
namespace {

struct SynthArgs {
  detection::SynthOptions options;
  std::string size = "160x160";
};

Action bind_synth_kitti(CLI::App& cmd) {
  auto args = std::make_shared<SynthArgs>();
  auto& o = args->options;
  cmd.add_option("-o,--output_dir", o.output_dir, "Output directory (new or empty): train/, val/, summary.json")
      ->required();
  cmd.add_option("--images", o.images, "Scenes in all (train + val)")->required();
  cmd.add_option("--seed", o.seed, "Random seed: the same seed writes the same bytes")->required();
  cmd.add_option("--size", args->size, "Image size WIDTHxHEIGHT")->capture_default_str();
  cmd.add_option("--min-objects", o.min_objects, "Objects per scene, at least")->capture_default_str();
  cmd.add_option("--max-objects", o.max_objects, "Objects per scene, at most")->capture_default_str();
  cmd.add_option("--val-fraction", o.val_fraction, "Fraction of the scenes in val/ (items from the test set)")
      ->capture_default_str();
  cmd.add_option("--source-dir", o.source_dir, "Fashion-MNIST IDX files (train-* and t10k-*)")->capture_default_str();
  return [args](const Invocation& in) {
    const auto size = detection::parse_image_size(args->size);
    args->options.width = size[0];
    args->options.height = size[1];
    in.runtime.synth_kitti(args->options);
    return 0;
  };
}

}  // namespace

void add_dataset_commands(CommandTable& table) {
  table.group("dataset", "Dataset tools");
  table.command({"dataset", "synth_kitti"},
                "Synthetic KITTI detection data: Fashion-MNIST items on textured backgrounds (PNG + labels)",
                bind_synth_kitti);
}

}  // namespace kiln::launcher::cli
