#include "kiln/launcher/cli_runtime.h"

#include <cstdlib>
#include <iostream>

#include "kiln/common/env.h"
#include "kiln/common/log.h"
#include "kiln/common/signals.h"
#include "kiln/detection/synth.h"
#include "kiln/launcher/info.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/experiment.h"
#include "kiln/runtime/export_task.h"
#include "kiln/runtime/inference.h"
#include "kiln/runtime/prune.h"
#include "kiln/runtime/tasks.h"

namespace kiln::launcher {
namespace {

class KilnRuntime final : public Runtime {
 public:
  cluster::RankInfo discover_rank() override { return cluster::discover_rank(); }
  int cuda_devices() override { return cuda_device_count(); }
  void set_rank_env(const std::string& name, const std::string& value) override {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void install_interrupt_handlers() override { kiln::install_interrupt_handlers(); }
  int launch(const JobLaunch& job) override { return launch_job(job); }
  // kiln's launcher hands its ranks the job token (launch.cpp); nothing else sets it.
  bool supervised_rank() override { return !env_string(knob::kJobToken).empty(); }
  std::string resolved_spec(const std::string& network, const runtime::RunOptions& opts) override {
    return runtime::resolved_spec_yaml(network, opts.spec_file, opts.overrides, opts.model_path);
  }

  void check_experiment_spec(const runtime::RunOptions& opts) override { runtime::check_experiment_spec(opts); }
  void check_evaluation_spec(const runtime::RunOptions& opts) override { runtime::check_evaluation_spec(opts); }
  void train(const runtime::RunOptions& opts) override { runtime::run_train(opts); }
  void evaluate(const runtime::RunOptions& opts) override { runtime::run_evaluate(opts); }
  void check_inference(const runtime::InferenceOptions& opts) override { runtime::check_inference_options(opts); }
  void inference(const runtime::InferenceOptions& opts) override { runtime::run_inference(opts); }
  void dataset_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                       const std::string& out_dir) override {
    runtime::run_dataset_convert(convert_spec, overrides, out_dir);
  }

  void check_detectnet_spec(const runtime::RunOptions& opts) override { runtime::check_detectnet_spec(opts); }
  void check_detectnet_evaluation_spec(const runtime::RunOptions& opts) override {
    runtime::check_detectnet_evaluation_spec(opts);
  }
  void check_detectnet_inference(const runtime::DetectnetInferenceOptions& opts) override {
    runtime::check_detectnet_inference(opts);
  }
  void detectnet_train(const runtime::RunOptions& opts) override { runtime::run_detectnet_train(opts); }
  void detectnet_evaluate(const runtime::RunOptions& opts) override { runtime::run_detectnet_evaluate(opts); }
  void detectnet_inference(const runtime::DetectnetInferenceOptions& opts) override {
    runtime::run_detectnet_inference(opts);
  }
  void detectnet_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                         const std::string& out_dir) override {
    runtime::run_detectnet_convert(convert_spec, overrides, out_dir);
  }

  void export_model(const runtime::ExportTaskOptions& opts) override {
    runtime::configure_threads(opts.run.threads, cluster::RankInfo{});
    runtime::run_export(opts);
  }
  void prune(const runtime::PruneTaskOptions& opts) override { runtime::run_prune(opts); }

  void cluster_check(const cluster::RankInfo& rank, const runtime::ClusterCheckOptions& opts) override {
    runtime::run_cluster_check(rank, opts);
  }
  void synth_kitti(const detection::SynthOptions& opts) override;
  void info(bool verbose) override { std::cout << info_text(verbose); }
};

void KilnRuntime::synth_kitti(const detection::SynthOptions& opts) {
  const auto summary = detection::generate_synth_kitti(opts);
  std::cout << detection::format_synth_summary(summary);
  log::info(log::cat("synth_kitti: wrote ", opts.images, " scenes to ", summary.output_dir, " in ",
                     static_cast<int>(summary.seconds * 10) / 10.0, " s"));
}

}  // namespace

std::unique_ptr<Runtime> kiln_runtime() { return std::make_unique<KilnRuntime>(); }

}  // namespace kiln::launcher
