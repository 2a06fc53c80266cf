// onnxruntime through `node tools/ort_run.js` (see onnxruntime.h): tensors travel as raw float32 files in a private
// temp directory; node's stderr becomes the error message.
#include "kiln/export/onnxruntime.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "kiln/common/env.h"
#include "kiln/common/error.h"
#include "kiln/common/fs.h"

extern char** environ;

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;

std::string ort_dir() { return onnxruntime_dir(); }
std::string node_exe() { return env_string(knob::kNode); }
std::string script_path() { return (fs::path(ort_dir()) / "tools" / "ort_run.js").string(); }

// A private temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / "kiln-ort-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw Error("cannot create a temp directory in " + base.string() + ": " + std::strerror(errno));
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

class SpawnActions {
 public:
  SpawnActions() { ::posix_spawn_file_actions_init(&fa_); }
  ~SpawnActions() { ::posix_spawn_file_actions_destroy(&fa_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

// Node starts with no blocked signals and default SIGINT/SIGTERM/SIGPIPE dispositions, whatever the caller set up.
class SpawnAttr {
 public:
  SpawnAttr() {
    ::posix_spawnattr_init(&attr_);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGINT, SIGTERM, SIGPIPE}) sigaddset(&defaults, sig);
    ::posix_spawnattr_setsigmask(&attr_, &none);
    ::posix_spawnattr_setsigdefault(&attr_, &defaults);
    ::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttr() { ::posix_spawnattr_destroy(&attr_); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

struct NodeResult {
  int status = -1;  // exit code; 128+signal when killed
  std::string out, err;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `node tools/ort_run.js args...` with stdout/stderr captured in `dir`.
NodeResult run_node(const std::vector<std::string>& args, const TempDir& dir) {
  const std::string out_file = dir.file("stdout.txt"), err_file = dir.file("stderr.txt");
  SpawnActions fa;
  ::posix_spawn_file_actions_addopen(fa.get(), 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(fa.get(), 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::posix_spawn_file_actions_addopen(fa.get(), 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);

  std::vector<std::string> argv_s{node_exe(), script_path()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The child sees KILN_ORT_DIR, so the script finds .deps even when it was located through KILN_SOURCE_DIR.
  const std::string ort_dir_is = std::string(knob::kOrtDir.name) + "=";
  std::vector<std::string> env_s{ort_dir_is + ort_dir()};
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, ort_dir_is.c_str(), ort_dir_is.size()) != 0) env_s.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const SpawnAttr attr;
  const int rc = ::posix_spawnp(&pid, argv[0], fa.get(), attr.get(), argv.data(), envp.data());
  if (rc != 0) throw Error("cannot start " + argv_s[0] + " (Node.js, needed for onnxruntime): " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw Error(std::string("waiting for node failed: ") + std::strerror(errno));
  }
  NodeResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = read_text(out_file);
  r.err = read_text(err_file);
  return r;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

struct Availability {
  bool ok = false;
  std::string version_or_reason;
};

const Availability& availability() {
  static Availability a;
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      if (!fs::exists(script_path())) {
        a.version_or_reason = script_path() + " not found (install kiln with `cmake --install`, or set " +
                              knob::kOrtDir.name + " to the kiln source tree)";
        return;
      }
      TempDir dir;
      NodeResult r = run_node({"--version"}, dir);
      a.ok = r.status == 0;
      a.version_or_reason = trimmed(a.ok            ? r.out
                                    : r.err.empty() ? "node exited with " + std::to_string(r.status)
                                                    : r.err);
    } catch (const std::exception& e) {
      a.version_or_reason = e.what();
    }
  });
  return a;
}

}  // namespace

std::string onnxruntime_dir() {
  const std::string given = env_string(knob::kOrtDir.name, "");
  if (!given.empty()) return given;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path share = exe.parent_path().parent_path() / "share" / "kiln";
    if (fs::exists(share / "tools" / "ort_run.js", ec)) return share.string();
  }
  return KILN_SOURCE_DIR;
}

bool onnxruntime_available() { return availability().ok; }

std::string onnxruntime_version() {
  const Availability& a = availability();
  if (!a.ok) throw Error("onnxruntime is not available: " + a.version_or_reason);
  return a.version_or_reason;
}

std::vector<OnnxOutput> run_onnxruntime_outputs(const std::string& model, const at::Tensor& input) {
  if (!file_exists(model)) throw DataError("onnxruntime: model file " + model + " does not exist");
  if (!onnxruntime_available())
    throw Error("cannot run " + model + ": onnxruntime is not available: " + availability().version_or_reason);
  if (!input.defined() || input.dim() == 0) throw Error("onnxruntime: the input tensor for " + model + " is empty");
  const at::Tensor x = input.detach().to(at::kCPU, at::kFloat).contiguous();
  TempDir dir;
  const std::string in_file = dir.file("input.bin"), out_file = dir.file("output.bin");
  {
    std::ofstream out(in_file, std::ios::binary);
    out.write(static_cast<const char*>(x.data_ptr()), static_cast<std::streamsize>(x.nbytes()));
    if (!out) throw Error("onnxruntime: cannot write " + in_file + ": " + std::strerror(errno));
  }
  std::string shape;
  for (int64_t d : x.sizes()) shape += (shape.empty() ? "" : "x") + std::to_string(d);
  const NodeResult r = run_node({model, in_file, shape, out_file}, dir);
  if (r.status != 0)
    throw Error("onnxruntime failed on " + model + " (input " + shape + ", exit " + std::to_string(r.status) +
                "): " + trimmed(r.err));
  struct Described {
    std::string name, file;
    std::vector<int64_t> dims;
  };
  std::vector<Described> described;
  try {
    const auto j = nlohmann::json::parse(r.out);
    if (j.contains("outputs")) {
      for (const auto& o : j.at("outputs"))
        described.push_back({o.at("name").get<std::string>(), o.at("file").get<std::string>(),
                             o.at("dims").get<std::vector<int64_t>>()});
    } else {  // a script without "outputs": the first output only
      described.push_back({j.value("name", std::string()), out_file, j.at("dims").get<std::vector<int64_t>>()});
    }
    if (described.empty()) throw Error("no outputs");
  } catch (const std::exception& e) {
    throw Error("onnxruntime on " + model + ": cannot read the output description '" + trimmed(r.out) +
                "': " + e.what());
  }
  std::vector<OnnxOutput> outputs;
  for (const Described& d : described) {
    if (d.file != out_file && d.file.rfind(out_file + ".", 0) != 0)
      throw Error("onnxruntime on " + model + ": output '" + d.name + "' was written to " + d.file +
                  ", outside the temp directory");
    const std::string bytes = read_text(d.file);
    int64_t count = 1;
    for (int64_t dim : d.dims) count *= dim;
    if (static_cast<int64_t>(bytes.size()) != 4 * count)
      throw Error("onnxruntime on " + model + ": " + d.file + " (output '" + d.name + "') has " +
                  std::to_string(bytes.size()) + " bytes, the output shape needs " + std::to_string(4 * count));
    at::Tensor y = at::empty(d.dims, at::kFloat);
    std::memcpy(y.data_ptr(), bytes.data(), bytes.size());
    outputs.push_back({d.name, y});
  }
  return outputs;
}

at::Tensor run_onnxruntime(const std::string& model, const at::Tensor& input) {
  return run_onnxruntime_outputs(model, input).front().value;
}

}  // namespace kiln::runtime
