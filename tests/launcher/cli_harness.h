// The test harness of run_cli(): a Runtime that records every call and the options it received (and can throw
// from a chosen call), and helpers to run a command line and check its outcome. Shared by tests/launcher/cli_*.cpp.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "kiln/common/error.h"
#include "kiln/common/log.h"
#include "kiln/detection/synth.h"
#include "kiln/launcher/cli.h"
#include "kiln/runtime/detectnet.h"
#include "kiln/runtime/export_task.h"
#include "kiln/runtime/inference.h"
#include "kiln/runtime/prune.h"
#include "kiln/runtime/tasks.h"

namespace kiln_cli_test {

using kiln::cluster::RankInfo;
using kiln::launcher::JobLaunch;
using Args = std::vector<std::string>;

// Records every call and the options it received; `fail` (when set) is thrown from the named call.
class FakeRuntime : public kiln::launcher::Runtime {
 public:
  std::vector<std::string> calls;
  RankInfo rank;                 // what discover_rank() answers
  int devices = 0;               // CUDA devices on this "host"
  int launch_code = 0;           // the launched job's exit code
  std::string fail_in;           // the call that throws `failure`
  std::function<void()> failure;

  std::map<std::string, std::string> rank_env;
  JobLaunch job;
  kiln::runtime::RunOptions run;
  kiln::runtime::InferenceOptions inference_opts;
  kiln::runtime::DetectnetInferenceOptions detectnet_inference_opts;
  kiln::runtime::ExportTaskOptions export_opts;
  kiln::runtime::PruneTaskOptions prune_opts;
  kiln::detection::SynthOptions synth;
  std::string convert_spec, convert_out;
  std::vector<std::string> convert_overrides;
  RankInfo checked_rank;
  kiln::runtime::ClusterCheckOptions check_opts;
  bool verbose = false;
  bool supervised = false;       // a rank that kiln's launcher started
  std::string resolved_network;  // what resolved_spec() was asked

  RankInfo discover_rank() override {
    called("discover_rank");
    return rank;
  }
  int cuda_devices() override {
    called("cuda_devices");
    return devices;
  }
  void set_rank_env(const std::string& name, const std::string& value) override { rank_env[name] = value; }
  void install_interrupt_handlers() override { called("install_interrupt_handlers"); }
  int launch(const JobLaunch& j) override {
    job = j;
    called("launch");
    return launch_code;
  }
  bool supervised_rank() override { return supervised; }
  std::string resolved_spec(const std::string& network, const kiln::runtime::RunOptions& o) override {
    resolved_network = network;
    run = o;
    called("resolved_spec");
    return "resolved: " + network + "\n";
  }

  void check_experiment_spec(const kiln::runtime::RunOptions& o) override { record("check_experiment_spec", o); }
  void check_evaluation_spec(const kiln::runtime::RunOptions& o) override { record("check_evaluation_spec", o); }
  void train(const kiln::runtime::RunOptions& o) override { record("train", o); }
  void evaluate(const kiln::runtime::RunOptions& o) override { record("evaluate", o); }
  void check_inference(const kiln::runtime::InferenceOptions& o) override {
    inference_opts = o;
    called("check_inference");
  }
  void inference(const kiln::runtime::InferenceOptions& o) override {
    inference_opts = o;
    called("inference");
  }
  void dataset_convert(const std::string& spec, const std::vector<std::string>& overrides,
                       const std::string& out) override {
    convert("dataset_convert", spec, overrides, out);
  }

  void check_detectnet_spec(const kiln::runtime::RunOptions& o) override { record("check_detectnet_spec", o); }
  void check_detectnet_evaluation_spec(const kiln::runtime::RunOptions& o) override {
    record("check_detectnet_evaluation_spec", o);
  }
  void check_detectnet_inference(const kiln::runtime::DetectnetInferenceOptions& o) override {
    detectnet_inference_opts = o;
    called("check_detectnet_inference");
  }
  void detectnet_train(const kiln::runtime::RunOptions& o) override { record("detectnet_train", o); }
  void detectnet_evaluate(const kiln::runtime::RunOptions& o) override { record("detectnet_evaluate", o); }
  void detectnet_inference(const kiln::runtime::DetectnetInferenceOptions& o) override {
    detectnet_inference_opts = o;
    called("detectnet_inference");
  }
  void detectnet_convert(const std::string& spec, const std::vector<std::string>& overrides,
                         const std::string& out) override {
    convert("detectnet_convert", spec, overrides, out);
  }

  void export_model(const kiln::runtime::ExportTaskOptions& o) override {
    export_opts = o;
    called("export_model");
  }
  void prune(const kiln::runtime::PruneTaskOptions& o) override {
    prune_opts = o;
    called("prune");
  }
  void cluster_check(const RankInfo& r, const kiln::runtime::ClusterCheckOptions& o) override {
    checked_rank = r;
    check_opts = o;
    called("cluster_check");
  }
  void synth_kitti(const kiln::detection::SynthOptions& o) override {
    synth = o;
    called("synth_kitti");
  }
  void info(bool v) override {
    verbose = v;
    called("info");
  }

  // The calls that are actions (or launches), without the queries and the handler installation.
  std::vector<std::string> actions() const {
    std::vector<std::string> out;
    for (const auto& c : calls)
      if (c != "discover_rank" && c != "cuda_devices" && c != "install_interrupt_handlers" && c != "resolved_spec")
        out.push_back(c);
    return out;
  }

 private:
  void called(const std::string& name) {
    calls.push_back(name);
    if (name == fail_in && failure) failure();
  }
  void record(const std::string& name, const kiln::runtime::RunOptions& o) {
    run = o;
    called(name);
  }
  void convert(const std::string& name, const std::string& spec, const std::vector<std::string>& overrides,
               const std::string& out) {
    convert_spec = spec;
    convert_overrides = overrides;
    convert_out = out;
    called(name);
  }
};

struct Outcome {
  int code = -1;
  std::string out, err;
};

inline Outcome cli(FakeRuntime& rt, const Args& args) {
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  Outcome o;
  o.code = kiln::launcher::run_cli(args, rt);
  o.out = testing::internal::GetCapturedStdout();
  o.err = testing::internal::GetCapturedStderr();
  return o;
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline const std::string kPass = "Execution status: PASS\n";
inline const std::string kFail = "Execution status: FAIL\n";

inline bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// A usage error: exit 2, FAIL, no action run, and `message` on stderr.
inline void expect_usage_error(const Args& args, const std::string& message, FakeRuntime rt = {}) {
  const Outcome o = cli(rt, args);
  EXPECT_EQ(o.code, 2) << testing::PrintToString(args) << "\n" << o.err;
  EXPECT_TRUE(ends_with(o.out, kFail)) << o.out;
  EXPECT_TRUE(contains(o.err, message)) << "expected '" << message << "' in:\n" << o.err;
  EXPECT_EQ(rt.actions(), Args{}) << testing::PrintToString(args);
}

inline RankInfo rank_of(int rank, int world) {
  RankInfo r;
  r.rank = r.local_rank = rank;
  r.world_size = r.local_world_size = world;
  r.source = "openmpi";
  return r;
}

}  // namespace kiln_cli_test
