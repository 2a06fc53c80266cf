// What kiln's subcommands do to the world, behind one interface: every action reaches kiln's subtasks, the job
// launcher and the host through a Runtime. kiln_runtime() is the real one; tests give run_cli() their own and see
// which action an argument list chose and the options it received.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kiln/cluster/rank_env.h"
#include "kiln/launcher/launch.h"

namespace kiln::runtime {
struct RunOptions;
struct InferenceOptions;
struct DetectnetInferenceOptions;
struct ExportTaskOptions;
struct PruneTaskOptions;
struct ClusterCheckOptions;
}  // namespace kiln::runtime

namespace kiln::detection {
struct SynthOptions;
}  // namespace kiln::detection

namespace kiln::launcher {

class Runtime {
 public:
  virtual ~Runtime() = default;

  // This process and its host.
  virtual cluster::RankInfo discover_rank() = 0;  // the rank this process is (world size 1 when it is not one)
  virtual int cuda_devices() = 0;                 // asked only for --gpus / --gpu_index
  // The environment of the rank this process runs itself (--gpus 1 --gpu_index K: KILN_GPU_INDEX=K).
  virtual void set_rank_env(const std::string& name, const std::string& value) = 0;
  virtual void install_interrupt_handlers() = 0;  // once the command line is parsed, before any action
  virtual int launch(const JobLaunch& job) = 0;   // starts and supervises the ranks; returns the job's exit code
  // True when this process is a rank that kiln's own launcher started and supervises (the launcher then reports the
  // job's `Execution status`).
  virtual bool supervised_rank() = 0;

  // The spec a subtask would run with, as YAML (defaults filled, overrides applied, paths absolute), for --dry-run.
  // `network` is "classification" or "detectnet_v2"; without opts.spec_file, the spec stored in opts.model_path.
  // Paths need not exist here (the subtask's check says which must).
  virtual std::string resolved_spec(const std::string& network, const runtime::RunOptions& opts) = 0;

  // classification
  virtual void check_experiment_spec(const runtime::RunOptions& opts) = 0;
  virtual void check_evaluation_spec(const runtime::RunOptions& opts) = 0;  // only the evaluation data must exist
  virtual void train(const runtime::RunOptions& opts) = 0;
  virtual void evaluate(const runtime::RunOptions& opts) = 0;
  virtual void check_inference(const runtime::InferenceOptions& opts) = 0;
  virtual void inference(const runtime::InferenceOptions& opts) = 0;
  virtual void dataset_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                               const std::string& out_dir) = 0;

  // detectnet_v2
  virtual void check_detectnet_spec(const runtime::RunOptions& opts) = 0;
  virtual void check_detectnet_evaluation_spec(const runtime::RunOptions& opts) = 0;
  virtual void check_detectnet_inference(const runtime::DetectnetInferenceOptions& opts) = 0;
  virtual void detectnet_train(const runtime::RunOptions& opts) = 0;
  virtual void detectnet_evaluate(const runtime::RunOptions& opts) = 0;
  virtual void detectnet_inference(const runtime::DetectnetInferenceOptions& opts) = 0;
  virtual void detectnet_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                                 const std::string& out_dir) = 0;

  // Either network (ExportTaskOptions::network says which command ran).
  virtual void export_model(const runtime::ExportTaskOptions& opts) = 0;
  virtual void prune(const runtime::PruneTaskOptions& opts) = 0;

  // Tools.
  virtual void cluster_check(const cluster::RankInfo& rank, const runtime::ClusterCheckOptions& opts) = 0;
  virtual void synth_kitti(const detection::SynthOptions& opts) = 0;
  virtual void info(bool verbose) = 0;
};

// kiln::runtime's subtasks, launch_job(), rank discovery and the process environment.
std::unique_ptr<Runtime> kiln_runtime();

}  // namespace kiln::launcher
