// Helpers for end-to-end tests that run the real kiln executable.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
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

// Runs `kiln <args>` through the shell, capturing output and the exit code.
inline RunResult run_kiln(const std::string& args) {
  RunResult r;
  const std::string cmd = std::string(KILN_BIN) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

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

inline std::string sample_spec(const std::string& name) {
  return std::string(KILN_SOURCE_DIR) + "/specs/samples/" + name;
}

}  // namespace kiln::testing
