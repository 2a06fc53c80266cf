#include "kiln/runtime/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <regex>
#include <sstream>

#include "kiln/common/error.h"
#include "kiln/common/fs.h"
#include "kiln/common/log.h"

namespace fs = std::filesystem;

namespace kiln::runtime {
namespace {
constexpr const char* kRngTensor = "rng/torch_cpu";
constexpr const char* kOptimizerBlob = "optimizer";

constexpr const char* kEpochStatePrefix = "epoch_state/";

// Where a checkpoint's name puts it: (epochs done, global step) for "<arch>_epoch_NNN_step_SSSSSSS.kiln", (epochs
// done, 0) for "<arch>_epoch_NNN.kiln" — whose steps all come before epoch NNN+1's. nullopt for another file.
std::optional<std::pair<int64_t, int64_t>> order_in_name(const std::string& name) {
  static const std::regex kCheckpoint(R"(.+_epoch_([0-9]{1,12})(_step_([0-9]{1,15}))?\.kiln)");
  std::smatch m;
  if (!std::regex_match(name, m, kCheckpoint)) return std::nullopt;
  return std::make_pair(std::stoll(m[1].str()), m[3].matched ? std::stoll(m[3].str()) : int64_t{0});
}

// The files to try, in order: the one `latest` names, then every other checkpoint, newest first.
std::vector<std::string> resume_candidates(const std::string& dir, const std::string& latest_name) {
  std::vector<std::string> paths{dir + "/" + latest_name};
  for (const auto& name : checkpoint_files_newest_first(dir))
    if (name != latest_name) paths.push_back(dir + "/" + name);
  return paths;
}

// Gives the optimizer fresh copies of its state tensors, so the ones an archive already holds stay as they are while
// training goes on (SGD's momentum and Adam's moments are updated in place). The optimizers kiln makes: SGD, Adam.
void detach_optimizer_state(torch::optim::Optimizer& optimizer) {
  for (auto& entry : optimizer.state()) {
    torch::optim::OptimizerParamState* state = entry.second.get();
    if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(state)) {
      if (sgd->momentum_buffer().defined()) sgd->momentum_buffer(sgd->momentum_buffer().clone());
    } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(state)) {
      if (adam->exp_avg().defined()) adam->exp_avg(adam->exp_avg().clone());
      if (adam->exp_avg_sq().defined()) adam->exp_avg_sq(adam->exp_avg_sq().clone());
      if (adam->max_exp_avg_sq().defined()) adam->max_exp_avg_sq(adam->max_exp_avg_sq().clone());
    } else {
      throw Error("checkpoint: an optimizer state of a kind kiln cannot snapshot");
    }
  }
}

std::string encode(torch::serialize::OutputArchive& archive) {
  std::ostringstream os;
  archive.save_to(os);
  return os.str();
}

// Everything of a checkpoint or model file but the optimizer state and the RNG.
ModelFile model_part(const CheckpointContent& c) {
  ModelFile f;
  put_module_state(*c.net, f);
  f.meta["kind"] = c.optimizer ? "checkpoint" : "model";
  f.meta["kiln_version"] = "0.1.0";
  f.meta["architecture"] = c.net->architecture().to_json();
  f.meta["class_names"] = c.class_names;
  f.meta["spec"] = c.spec_yaml;
  f.meta["world_size"] = c.world_size;
  f.meta["global_batch"] = c.global_batch;
  for (const auto& [key, value] : c.extra.items()) f.meta[key] = value;
  if (c.state) {
    f.meta["epoch"] = c.state->epoch;
    f.meta["global_step"] = c.state->global_step;
    const EpochPosition& at = c.state->position;
    if (at.steps > 0) {
      f.meta["step_in_epoch"] = at.steps;
      f.meta["samples_consumed"] = at.consumed;
      for (size_t r = 0; r < at.rank_state.size(); ++r)
        f.tensors[kEpochStatePrefix + std::to_string(r)] = at.rank_state[r];
    }
    nlohmann::json history = nlohmann::json::array();
    for (const auto& r : c.state->history) history.push_back(r.to_json());
    f.meta["history"] = history;
  }
  return f;
}
}  // namespace

ModelFile make_model_file(const CheckpointContent& c) { return CheckpointSnapshot(c).finish(); }

CheckpointSnapshot::CheckpointSnapshot(const CheckpointContent& c) : file_(model_part(c)) {
  if (!c.optimizer) return;
  optimizer_ = std::make_shared<torch::serialize::OutputArchive>();
  c.optimizer->save(*optimizer_);        // holds the state tensors themselves...
  detach_optimizer_state(*c.optimizer);  // ...which the optimizer now leaves alone
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  file_.tensors[kRngTensor] = gen.get_state();
}

ModelFile CheckpointSnapshot::finish() {
  if (optimizer_) file_.blobs[kOptimizerBlob] = encode(*optimizer_);
  optimizer_.reset();
  return std::move(file_);
}

std::string latest_checkpoint_name(const ResultsLayout& results) {
  std::error_code ec;
  if (!fs::exists(results.latest_pointer(), ec)) return "";
  std::string name = read_file(results.latest_pointer());
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return name;
}

std::string checkpoint_file_name(const ResultsLayout& results, const CheckpointContent& c) {
  const std::string& arch = c.net->architecture().arch;
  return c.state->position.steps > 0 ? results.checkpoint_name(arch, c.state->epoch, c.state->global_step)
                                     : results.checkpoint_name(arch, c.state->epoch);
}

std::string save_checkpoint(const ResultsLayout& results, const CheckpointContent& c) {
  fs::create_directories(results.checkpoints());
  const std::string name = checkpoint_file_name(results, c);
  const std::string path = results.checkpoints() + "/" + name;
  write_model_file(path, make_model_file(c));
  atomic_write_string(results.latest_pointer(), name + "\n");
  return path;
}

std::vector<std::string> checkpoint_files_newest_first(const std::string& dir) {
  std::vector<std::pair<std::pair<int64_t, int64_t>, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (auto order = order_in_name(name)) found.emplace_back(*order, name);
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> names;
  for (auto& f : found) names.push_back(std::move(f.second));
  return names;
}

std::vector<std::string> remove_old_checkpoints(const ResultsLayout& results, int64_t keep) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  const std::string latest = latest_checkpoint_name(results);
  int64_t kept = 0;
  for (const auto& name : checkpoint_files_newest_first(results.checkpoints())) {
    if (name == latest || kept < keep) {
      ++kept;
      continue;
    }
    std::error_code ec;
    if (fs::remove(results.checkpoints() + "/" + name, ec)) removed.push_back(name);
  }
  return removed;
}

std::string save_final_model(const ResultsLayout& results, CheckpointContent c) {
  c.optimizer = nullptr;
  const std::string path = results.model();
  write_model_file(path, make_model_file(c));
  return path;
}

std::optional<ResumePoint> resume_point(const ResultsLayout& results) {
  const fs::path pointer = results.latest_pointer();
  if (!fs::exists(pointer)) return std::nullopt;
  const std::string name = latest_checkpoint_name(results);
  std::vector<std::string> skipped;  // "<file>: <why>"
  for (const std::string& path : resume_candidates(results.checkpoints(), name)) {
    if (!fs::is_regular_file(path)) {  // only `latest`'s target can be missing (or be "")
      skipped.push_back(pointer.string() + " points at '" + name + "', which does not exist");
      continue;
    }
    try {
      ResumePoint point{path, read_model_file(path)};
      for (const auto& why : skipped) log::warn("Checkpoint skipped: " + why);
      if (!skipped.empty()) log::warn("Resuming from " + path + ", the newest checkpoint that verifies");
      return point;
    } catch (const DataError& e) {
      skipped.push_back(e.what());
    }
  }
  std::string all;
  for (const auto& why : skipped) all += "\n  " + why;
  throw DataError("no checkpoint in " + results.checkpoints() + " can be resumed from:" + all);
}

TrainState resume_from(const std::string& path, const ModelFile& file, networks::Network& net,
                       torch::optim::Optimizer& optimizer) {
  if (file.meta.value("kind", "") != "checkpoint")
    throw DataError(path + ": not a training checkpoint (kind '" + file.meta.value("kind", "") + "')");
  const auto stored = networks::Architecture::from_json(file.meta.at("architecture"));
  if (stored.to_json() != net.architecture().to_json())
    throw UsageError(path + ": the checkpoint's model (" + stored.summary() + ") differs from the spec's (" +
                     net.architecture().summary() + "); use a new results directory (-r) to train another model");
  restore_module_state(net, file, path);
  auto blob = file.blobs.find(kOptimizerBlob);
  if (blob == file.blobs.end()) throw DataError(path + ": optimizer state is missing");
  torch::serialize::InputArchive archive;
  archive.load_from(blob->second.data(), blob->second.size());
  optimizer.load(archive);
  auto rng = file.tensors.find(kRngTensor);
  if (rng != file.tensors.end()) {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng->second);
  }
  TrainState s;
  s.epoch = file.meta.at("epoch");
  s.global_step = file.meta.at("global_step");
  for (const auto& r : file.meta.at("history")) s.history.push_back(EpochRecord::from_json(r));
  s.position.steps = file.meta.value("step_in_epoch", int64_t{0});
  s.position.consumed = file.meta.value("samples_consumed", int64_t{0});
  for (int r = 0; s.position.steps > 0; ++r) {
    auto it = file.tensors.find(kEpochStatePrefix + std::to_string(r));
    if (it == file.tensors.end()) break;
    s.position.rank_state.push_back(it->second);
  }
  if (s.position.steps > 0 && s.position.rank_state.empty())
    throw DataError(path + ": a mid-epoch checkpoint without the ranks' epoch state");
  return s;
}

LoadedModel load_model(const std::string& path) {
  LoadedModel m;
  m.file = read_model_file(path);
  if (!m.file.meta.contains("architecture")) throw DataError(path + ": no architecture description in the file");
  m.net = networks::create(networks::Architecture::from_json(m.file.meta.at("architecture")));
  restore_module_state(*m.net, m.file, path);
  m.class_names = m.file.meta.value("class_names", std::vector<std::string>{});
  return m;
}

}  // namespace kiln::runtime
