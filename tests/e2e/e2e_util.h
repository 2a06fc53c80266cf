// Helpers for end-to-end tests that run the real kiln executable.
#pragma once
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <thread>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kiln::testing {

namespace fs = std::filesystem;

struct RunResult {
  int code = -1;
  std::string output;  // stdout + stderr
};

// Runs a shell command line, capturing stdout + stderr and the exit code.
inline RunResult run_shell(const std::string& command) {
  RunResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline RunResult run_kiln(const std::string& args) { return run_shell(std::string(KILN_BIN) + " " + args); }

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::temp_directory_path() / ("kiln_e2e_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// The pid of the rank whose environment says OMPI_COMM_WORLD_RANK=<rank> and whose command line mentions `tag`.
inline pid_t find_rank(int rank, const std::string& tag) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string cmdline = slurp(e.path() / "cmdline"), environ = slurp(e.path() / "environ");
    if (cmdline.find(tag) == std::string::npos || cmdline.find("mpirun") == 0) continue;
    if (environ.find("OMPI_COMM_WORLD_RANK=" + std::to_string(rank) + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}
// SIGKILLs rank `rank` of the job whose processes mention `tag`, then waits for the launcher `pid`; returns its
// wait status.
inline int kill_rank_and_wait(pid_t pid, int rank, const std::string& tag) {
  ::kill(find_rank(rank, tag), SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

// The last event of <results>/status.json: what a user (or TAO's tooling) reads as the job's outcome.
inline nlohmann::json last_event(const fs::path& results) {
  std::istringstream in(slurp(results / "status.json"));
  std::string line, last;
  while (std::getline(in, line)) last = line;
  return nlohmann::json::accept(last) ? nlohmann::json::parse(last) : nlohmann::json::object();
}

// Starts a shell command line in the background with its output in `log`; returns its pid.
inline pid_t start_shell(const std::string& command, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string cmd = command + " > " + log.string() + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Starts `kiln <args>` in the background (exec'd, so the pid is kiln's own).
inline pid_t start_kiln(const std::string& args, const fs::path& log) {
  return start_shell("exec " + std::string(KILN_BIN) + " " + args, log);
}

// Waits (up to two minutes) until `text` appears in the file.
inline void wait_for(const fs::path& log, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (slurp(log).find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// Waits (up to two minutes, polling every 5 ms) until the file exists.
inline void wait_for_file(const fs::path& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(path) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

inline std::string sample_spec(const std::string& name) {
  return std::string(KILN_SOURCE_DIR) + "/specs/samples/" + name;
}

// `images` synthetic KITTI scenes of 64x64 (`seed`; a quarter for validation) in dir/synth, converted to detection
// shards in dir/shards/{train,val}. Returns the overrides that train detectnet_v2_synth.yaml on them with a small
// network (ResNet-10 of width 8 at 64x64), or "" after recording a test failure.
inline std::string small_synth_detection(const fs::path& dir, int images, int seed) {
  const fs::path synth = dir / "synth", shards = dir / "shards";
  auto r = run_kiln("dataset synth_kitti -o " + synth.string() + " --images " + std::to_string(images) + " --seed " +
                    std::to_string(seed) + " --size 64x64 --val-fraction 0.25");
  if (r.code != 0) return ADD_FAILURE() << r.output, "";
  for (const std::string split : {"train", "val"}) {
    r = run_kiln("detectnet_v2 dataset_convert -d " + sample_spec("detectnet_v2_convert_synth.yaml") + " -o " +
                 (shards / split).string() + " kitti_config.root_directory_path=" + (synth / split).string());
    if (r.code != 0) return ADD_FAILURE() << r.output, "";
  }
  return " \"dataset_config.data_sources=[{shards: " + (shards / "train").string() + "}]\"" +
         " dataset_config.validation_data_source.shards=" + (shards / "val").string() +
         " augmentation_config.preprocessing.output_image_width=64"
         " augmentation_config.preprocessing.output_image_height=64 model_config.num_layers=10 model_config.width=8";
}

}  // namespace kiln::testing
