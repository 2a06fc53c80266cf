// Doc pages carry generated regions between "<!-- BEGIN GENERATED name -->" and "<!-- END GENERATED name -->": a
// test compares each with what the code generates, and with KILN_UPDATE_DOCS=1 rewrites the region instead.
#pragma once
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "kiln/common/env.h"

namespace kiln::test_support {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// `path` relative to the source tree, e.g. "docs/cli.md".
inline void check_generated_region(const std::string& path, const std::string& name, const std::string& generated) {
  const std::string file = std::string(KILN_SOURCE_DIR) + "/" + path;
  std::string docs = read_text(file);
  ASSERT_FALSE(docs.empty()) << "cannot read " << file;
  const std::string begin = "<!-- BEGIN GENERATED " + name + " -->\n";
  const std::string end = "<!-- END GENERATED " + name + " -->";
  const size_t b = docs.find(begin);
  const size_t e = docs.find(end);
  ASSERT_TRUE(b != std::string::npos && e != std::string::npos && b < e)
      << file << " needs the markers '" << begin.substr(0, begin.size() - 1) << "' and '" << end << "'";
  const size_t from = b + begin.size();
  const std::string expected = "\n" + generated + "\n";
  if (env_string(knob::kUpdateDocs) == "1") {
    docs.replace(from, e - from, expected);
    std::ofstream(file) << docs;
    return;
  }
  EXPECT_EQ(docs.substr(from, e - from), expected)
      << file << " is out of date; regenerate it with " << knob::kUpdateDocs.name << "=1 and this test";
}

}  // namespace kiln::test_support
