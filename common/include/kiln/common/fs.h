// File helpers: atomic writes (temp file, fsync, rename, fsync dir) so a crash never leaves a half-written file
// in place of a good one, and checks that a directory is writable before any work starts.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace kiln {

// Writes `path` atomically: `write` fills a temp file in the same directory, which is fsynced and renamed over
// `path`; the directory is fsynced afterwards. On any failure the temp file is removed and `path` is untouched.
void atomic_write(const std::string& path, const std::function<void(std::ostream&)>& write);
// Same for writers that need a file name (e.g. a plotting library): `write` creates the given temp path.
void atomic_write_via(const std::string& path, const std::function<void(const std::string& temp_path)>& write);
void atomic_write_string(const std::string& path, const std::string& content);

// Removes the temp files of atomic writes in `dir` (`<name>.tmp.<pid>.<hex>`, not recursive) whose writer is gone:
// no process with that pid exists on this host. A temp file of a live process is kept (a writer at work, or a pid
// reused by another process: then it is removed by a later call). Returns the removed files' names; a file that
// cannot be removed is left (the next start tries again).
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

// Creates `dir` (and parents) if needed and proves it writable by creating and removing a probe file.
// Throws kiln::UsageError naming the directory otherwise.
void ensure_writable_dir(const std::string& dir);

std::string read_file(const std::string& path);  // throws DataError naming the file
bool file_exists(const std::string& path);

}  // namespace kiln
