// Internal to kiln_launcher: the options several subcommands share, each defined once — -e/-r/-m, dataset_convert's
// -d/-o, the trailing key.path=value spec overrides, the launch options (where ranks run, and which arguments the
// ranks do not get) and TAO's multi-letter short options.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "kiln/launcher/launch.h"
#include "kiln/runtime/tasks.h"

namespace kiln::launcher::cli {

// -e,--experiment_spec_file / -r,--results_dir / -m,--model, with the subcommand's help (and ->required() where
// the subcommand needs it). TAO 5's long forms --experiment_spec and --model_path are other names of -e and -m.
CLI::Option* add_spec_file(CLI::App& cmd, std::string& path, const std::string& help);
CLI::Option* add_results_dir(CLI::App& cmd, std::string& dir, const std::string& help);
CLI::Option* add_model(CLI::App& cmd, std::string& path, const std::string& help);

// Lets `cmd` take trailing key.path=value spec overrides and says so under its --help, with `example` (keys of
// the subcommand's own spec; "" shows none).
void allow_overrides(CLI::App& cmd, const std::string& example);
// The overrides of a parsed `cmd`. Throws UsageError for any other leftover argument.
std::vector<std::string> overrides_of(const CLI::App& cmd);

// Inference's input, TAO's two ways: -i,--image (TAO: an image; kiln also takes a folder or an IDX file, `help`) or
// -d,--image_dir (a folder, as TAO's classification inference). One of the two; require_inference_input() says so.
void add_inference_input(CLI::App& cmd, std::string& input, const std::string& help);
void require_inference_input(const std::string& input);

// `<network> dataset_convert -d SPEC -o DIR [key.path=value ...]`.
struct ConvertArgs {
  std::string spec, out_dir;
};
void add_convert_options(CLI::App& cmd, ConvertArgs& args, const std::string& spec_help,
                         const std::string& overrides_example);

// The launch options as given; apply_gpu_flags() (cli_launch.h) turns --gpus / --gpu_index into ranks.
struct LaunchFlags {
  JobLaunch job;
  int gpus = 0;
  std::vector<int> gpu_index;
};

// --num_processes, -c, --launcher, --include, --exclude, --dry-run: where a job's ranks run (`cluster check`).
void add_launch_options(CLI::App& cmd, JobLaunch& job);
// A subtask that runs on ranks: --num_threads, the launch options, --gpus, --gpu_index, --device, --emit-sbatch
// and spec overrides (allow_overrides).
void add_run_options(CLI::App& cmd, runtime::RunOptions& ro, LaunchFlags& launch,
                     const std::string& overrides_example);

// --use_amp (TAO's flag): mixed precision, as the spec override `<amp_group>.enabled=true` that it adds to
// `overrides` while the command line is parsed, before the command line's own (docs/mixed_precision.md).
void add_use_amp(CLI::App& cmd, std::vector<std::string>& overrides, const std::string& amp_group);

// TAO's options every subtask takes: -k/--key (accepted and ignored: kiln models are not encrypted), --log_file,
// -v/--verbose and -q/--quiet.
struct CommonFlags {
  std::string key, log_file;
  bool verbose = false, quiet = false;
};
// Adds them to `cmd`, bound to `flags`; -k/--key only where `with_key` (the networks' subtasks, as in TAO).
void add_common_flags(CLI::App& cmd, CommonFlags& flags, bool with_key);
// Sets the log level and file and warns about -k, once, in the process that parsed them.
void apply_common_flags(const CommonFlags& flags);

// `args` without the launch options and the options the launcher handles for the whole job (-k, --log_file): the
// command line every rank of a launched job runs.
std::vector<std::string> without_launch_options(const std::vector<std::string>& args);

// TAO's multi-letter single-dash options (-pth, -nf, -pg, -eq, -el) as the long options CLI11 knows; "-pth=0.2"
// keeps its value. Any other argument is returned as it is.
std::string tao_short_option(const std::string& arg);

}  // namespace kiln::launcher::cli
