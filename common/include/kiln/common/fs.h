// File helpers: atomic writes (temp file, fsync, rename, fsync dir) so a crash never leaves a half-written file
// in place of a good one, and checks that a directory is writable before any work starts.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>

namespace kiln {

// Writes `path` atomically: `write` fills a temp file in the same directory, which is fsynced and renamed over
// `path`; the directory is fsynced afterwards. On any failure the temp file is removed and `path` is untouched.
void atomic_write(const std::string& path, const std::function<void(std::ostream&)>& write);
// Same for writers that need a file name (e.g. a plotting library): `write` creates the given temp path.
void atomic_write_via(const std::string& path, const std::function<void(const std::string& temp_path)>& write);
void atomic_write_string(const std::string& path, const std::string& content);

// Creates `dir` (and parents) if needed and proves it writable by creating and removing a probe file.
// Throws kiln::UsageError naming the directory otherwise.
void ensure_writable_dir(const std::string& dir);

std::string read_file(const std::string& path);  // throws DataError naming the file
bool file_exists(const std::string& path);

}  // namespace kiln
