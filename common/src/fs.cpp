#include "kiln/common/fs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "kiln/common/check.h"
#include "kiln/common/error.h"

namespace fs = std::filesystem;

namespace kiln {
namespace {

void fsync_path(const std::string& path, int flags) {
  int fd = KILN_SYSCALL(::open(path.c_str(), flags | O_CLOEXEC), "opening " + path + " to fsync");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) detail::throw_syscall("fsync", __FILE__, __LINE__, err, "syncing " + path);
}

std::string temp_name(const std::string& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream os;
  os << path << ".tmp." << ::getpid() << "." << std::hex << rng();
  return os.str();
}

// The writer's pid in a temp_name() ("<path>.tmp.<pid>.<hex>"), or 0 when `name` is not one.
pid_t temp_writer(const std::string& name) {
  static const std::regex kTemp(R"(.+\.tmp\.([0-9]{1,9})\.[0-9a-f]+)");
  std::smatch m;
  if (!std::regex_match(name, m, kTemp)) return 0;
  return static_cast<pid_t>(std::stol(m[1].str()));
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const pid_t writer = temp_writer(name);
    if (writer <= 0 || process_exists(writer) || !entry.is_regular_file(ec)) continue;
    if (fs::remove(entry.path(), ec)) removed.push_back(name);
  }
  return removed;
}

void atomic_write(const std::string& path, const std::function<void(std::ostream&)>& write) {
  atomic_write_via(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot create " + tmp + ": " + std::strerror(errno));
    write(out);
    out.flush();
    if (!out) throw Error("writing " + tmp + " failed: " + std::strerror(errno));
  });
}

void atomic_write_via(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = temp_name(path);
  try {
    write(tmp);
    if (!fs::exists(tmp)) throw Error("writing " + path + ": nothing was written to " + tmp);
    fsync_path(tmp, O_RDONLY);
    KILN_SYSCALL(::rename(tmp.c_str(), path.c_str()), "renaming " + tmp + " to " + path);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  fs::path dir = fs::path(path).parent_path();
  fsync_path(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
}

void atomic_write_string(const std::string& path, const std::string& content) {
  atomic_write(path, [&](std::ostream& out) { out.write(content.data(), static_cast<std::streamsize>(content.size())); });
}

void ensure_writable_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UsageError("results directory " + dir + " cannot be created: " + ec.message());
  if (!fs::is_directory(dir)) throw UsageError("results path " + dir + " exists and is not a directory");
  const std::string probe = (fs::path(dir) / ".kiln_write_probe").string();
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw UsageError("results directory " + dir + " is not writable: " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

}  // namespace kiln
