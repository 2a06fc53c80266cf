// The subtasks the launcher dispatches to: train, evaluate, dataset_convert. Each takes a plain options struct
// (filled from the command line) and throws kiln errors with context; exit codes are chosen in main().
#pragma once
#include <string>
#include <vector>

#include "kiln/cluster/rank_env.h"

namespace kiln::runtime {

struct RunOptions {
  std::string spec_file;                 // -e
  std::vector<std::string> overrides;    // key.path=value
  std::string results_dir;               // -r
  std::string model_path;                // -m (train: pretrained weights; evaluate: the model)
  cluster::RankInfo rank;
  int threads = 0;                       // intra-op threads; 0 = cores / local ranks
  bool deterministic = false;            // --enable_determinism
  std::string device;                    // --device auto|cpu|cuda; empty: KILN_DEVICE or auto (runtime/device.h)
};

// Validates the experiment spec (schema and cross-field rules) and throws SpecError (exit 2): the launcher calls
// this before it starts any rank.
void check_experiment_spec(const RunOptions& opts);
// The same for evaluate, which reads only the evaluation source (dataset_config.val, else train).
void check_evaluation_spec(const RunOptions& opts);

// Trains (or resumes from <results>/checkpoints/latest). Writes checkpoints, model.kiln, status.json, curves.
void run_train(const RunOptions& opts);

// Evaluates a model file on dataset_config.val (or train when there is no val): metrics to <results>/evaluation/.
void run_evaluate(const RunOptions& opts);

// Converts a source dataset into kiln shards (`-d convert.yaml -o out_dir`).
void run_dataset_convert(const std::string& convert_spec, const std::vector<std::string>& overrides,
                         const std::string& out_dir);

// `kiln cluster check` on one rank of a launched job: every rank joins its communicator (MPI or Gloo) and the
// control plane (so it is reachable), rank 0 prints where each rank runs, then the all-reduce time, algorithm and bus
// bandwidth of each size (best of `iterations`). Sizes may be fractions of a MiB (0.0625 = 64 KiB), rounded to whole
// float32 elements: small ones measure the latency term of the all-reduce.
struct ClusterCheckOptions {
  std::vector<double> sizes_mib{1, 25, 100};
  int iterations = 5;
};
void run_cluster_check(const cluster::RankInfo& rank, const ClusterCheckOptions& opts = {});

// Sets LibTorch's intra-op threads (Debian's LibTorch defaults to 1) and returns the number used. Then, once per
// process, checks LibTorch's CPU convolutions (convolution_check.h: guard_cpu_convolutions).
int configure_threads(int requested, const cluster::RankInfo& rank);

}  // namespace kiln::runtime
