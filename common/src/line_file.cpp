#include "kiln/common/line_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "kiln/common/check.h"
#include "kiln/common/log.h"

namespace kiln {
namespace {

class LineFd {
 public:
  explicit LineFd(const std::string& path)
      : fd_(KILN_SYSCALL(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644), "opening " + path)) {}
  ~LineFd() { ::close(fd_); }
  LineFd(const LineFd&) = delete;
  LineFd& operator=(const LineFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The length of the file up to and including its last '\n' (0 when it has none), read backwards in blocks.
off_t whole_lines_length(int fd, off_t size, const std::string& path) {
  char block[4096];
  for (off_t end = size; end > 0;) {
    const off_t begin = std::max<off_t>(0, end - static_cast<off_t>(sizeof block));
    const ssize_t n = KILN_SYSCALL(::pread(fd, block, static_cast<size_t>(end - begin), begin), "reading " + path);
    for (ssize_t i = n; i-- > 0;) {
      if (block[i] == '\n') return begin + i + 1;
    }
    end = begin;
  }
  return 0;
}

// Cuts a torn last line off; returns the file's length afterwards.
off_t drop_torn_tail(int fd, const std::string& path) {
  struct stat st {};
  KILN_SYSCALL(::fstat(fd, &st), "reading the size of " + path);
  const off_t whole = whole_lines_length(fd, st.st_size, path);
  if (whole == st.st_size) return whole;
  KILN_SYSCALL(::ftruncate(fd, whole), "cutting a torn last line off " + path);
  log::warn(log::cat(path, ": dropped a torn last line (", st.st_size - whole,
                     " bytes without a newline, left by an interrupted write)"));
  return whole;
}

// Writes all of `text`; returns 0 or the errno of the write that failed.
int write_all(int fd, const std::string& text) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

void append_line(const std::string& path, const std::string& line) {
  LineFd fd(path);
  const off_t before = drop_torn_tail(fd.get(), path);
  const int err = write_all(fd.get(), line + "\n");
  if (err == 0) return;
  const bool rolled_back = ::ftruncate(fd.get(), before) == 0;
  const char* kept = rolled_back ? " (nothing of it was kept)" : " (its torn part is cut off at the next append)";
  detail::throw_syscall("write", __FILE__, __LINE__, err, "appending a line to " + path + kept);
}

}  // namespace kiln
