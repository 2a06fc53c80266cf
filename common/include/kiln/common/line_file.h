// Appending whole lines to a JSON-lines file (status.json): each line is written completely or not at all, so a
// full disk or a crash never leaves the file unreadable for the next run.
#pragma once
#include <string>

namespace kiln {

// Appends `line` and '\n' to `path` (created 0644 when missing). First, a last line without its '\n' (left by a
// writer that was killed or ran out of space before this fix, or by a truncation that failed) is cut off and a
// WARNING names the file and the bytes dropped. On a failed or short write the file is truncated back to its length
// before the append; then Error names the file and errno's text.
void append_line(const std::string& path, const std::string& line);

}  // namespace kiln
