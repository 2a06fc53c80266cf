// Every KILN_ name the sources use as an environment variable is a knob declared in env_knobs.h. Looked for:
// in C++ (.cpp/.h), names inside string literals (getenv("KILN_X"), "KILN_X=" + value, messages that name one);
// in shell, $KILN_X and ${KILN_X...}; in Python and JavaScript, quoted names and process.env.KILN_X; in CMake,
// $ENV{KILN_X}. Macros and CMake variables (KILN_SYSCALL, KILN_SOURCE_DIR, KILN_UNITY) are none of these; nor are
// the build options (option(KILN_WITH_MPI …) in CMake), which messages of a build without a feature name.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "kiln/common/env.h"
#include "support/generated_docs.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

const std::string kName = "(KILN_[A-Z0-9_]*[A-Z0-9])";

void add_names(const std::string& text, const std::regex& pattern, std::set<std::string>& names) {
  for (std::sregex_iterator it(text.begin(), text.end(), pattern), end; it != end; ++it) names.insert((*it)[1]);
}

// The end of the quoted literal whose opening quote is at `open` (the index of its closing quote).
size_t literal_end(const std::string& code, size_t open) {
  const char quote = code[open];
  size_t i = open + 1;
  while (i < code.size() && code[i] != quote && code[i] != '\n') i += code[i] == '\\' ? 2 : 1;
  return std::min(i, code.size());
}

// The string literals of a C++ source, comments skipped.
std::vector<std::string> cpp_string_literals(const std::string& code) {
  std::vector<std::string> out;
  for (size_t i = 0; i < code.size(); ++i) {
    if (code.compare(i, 2, "//") == 0) {
      i = std::min(code.find('\n', i), code.size());
    } else if (code.compare(i, 2, "/*") == 0) {
      i = std::min(code.find("*/", i + 2), code.size()) + 1;
    } else if (code.compare(i, 2, "R\"") == 0) {  // raw string: R"delim( ... )delim"
      const size_t paren = code.find('(', i + 2);
      const std::string close = ")" + code.substr(i + 2, paren - i - 2) + "\"";
      const size_t end = std::min(code.find(close, paren), code.size());
      out.push_back(code.substr(paren + 1, end - paren - 1));
      i = end + close.size() - 1;
    } else if (code[i] == '"') {
      const size_t end = literal_end(code, i);
      out.push_back(code.substr(i + 1, end - i - 1));
      i = end;
    } else if (code[i] == '\'' && (i == 0 || !std::isalnum(static_cast<unsigned char>(code[i - 1])))) {
      i = literal_end(code, i);  // a character literal ('"' must not open a string); 1'000 is a digit separator
    }
  }
  return out;
}

std::set<std::string> names_in(const fs::path& file, const std::string& text) {
  std::set<std::string> names;
  const std::string ext = file.extension().string();
  if (ext == ".cpp" || ext == ".h") {
    const std::regex name(kName);
    for (const std::string& literal : cpp_string_literals(text)) add_names(literal, name, names);
  } else if (ext == ".sh") {
    add_names(text, std::regex("\\$\\{?" + kName), names);
  } else if (ext == ".py" || ext == ".js") {
    add_names(text, std::regex("[\"'.]" + kName), names);
  } else if (ext == ".cmake" || file.filename() == "CMakeLists.txt") {
    add_names(text, std::regex("\\$ENV\\{" + kName), names);
  }
  return names;
}

bool skipped_dir(const fs::path& dir) {
  const std::string name = dir.filename().string();
  return name.empty() || name[0] == '.' || name == "node_modules" || fs::exists(dir / "CMakeCache.txt");
}

// file → the KILN_ names it uses, over the whole source tree but build trees and hidden folders.
std::map<std::string, std::set<std::string>> names_in_sources() {
  std::map<std::string, std::set<std::string>> out;
  const fs::path root(KILN_SOURCE_DIR);
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    if (it->is_directory()) {
      if (skipped_dir(it->path())) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::set<std::string> names = names_in(it->path(), test_support::read_text(it->path().string()));
    if (!names.empty()) out[fs::relative(it->path(), root).string()] = std::move(names);
  }
  return out;
}

// The CMake options of the build (option(KILN_…) in CMakeLists.txt and cmake/*.cmake).
std::set<std::string> build_options() {
  std::set<std::string> out;
  const fs::path root(KILN_SOURCE_DIR);
  std::vector<fs::path> files{root / "CMakeLists.txt"};
  for (const auto& entry : fs::directory_iterator(root / "cmake")) files.push_back(entry.path());
  for (const fs::path& file : files)
    add_names(test_support::read_text(file.string()), std::regex("option\\((KILN_[A-Z0-9_]*[A-Z0-9])"), out);
  return out;
}

TEST(EnvSources, EveryKilnNameInTheSourcesIsADeclaredKnob) {
  const auto uses = names_in_sources();
  const auto options = build_options();
  EXPECT_TRUE(options.count("KILN_WITH_MPI")) << "the scan of CMake's options missed KILN_WITH_MPI";
  std::set<std::string> seen;
  for (const auto& [file, names] : uses) {
    for (const std::string& name : names) {
      if (options.count(name)) continue;  // a build option, named by a message
      seen.insert(name);
      EXPECT_TRUE(find_knob(name) != nullptr)
          << file << " uses " << name << ", which common/include/kiln/common/env_knobs.h does not declare";
    }
  }
  // The scan itself works: it finds knobs in C++ code, shell and JavaScript.
  for (const char* known : {knob::kDevice.name, knob::kBuildDir.name, knob::kOrtDir.name, knob::kJobToken.name})
    EXPECT_TRUE(seen.count(known)) << "the scan missed " << known;
}

TEST(EnvSources, FindsNamesInLiteralsAndScriptsOnly) {
  const std::string k = "KILN";  // assembled, so this file holds no undeclared name itself
  const std::string cpp = "// " + k + "_IN_COMMENT\n#ifdef " + k + "_MACRO\nauto v = getenv(\"" + k +
                          "_NEW\"); char q = '\"'; auto w = std::string(\"x " + k + "_TOO=\") + " + k + "_VERSION;\n";
  EXPECT_EQ(names_in("a.cpp", cpp), (std::set<std::string>{k + "_NEW", k + "_TOO"}));
  EXPECT_EQ(names_in("b.sh", "d=${" + k + "_DIR:-x}; echo $" + k + "_X # " + k + "_NOTE\n"),
            (std::set<std::string>{k + "_DIR", k + "_X"}));
  EXPECT_EQ(names_in("c.js", "process.env." + k + "_JS"), (std::set<std::string>{k + "_JS"}));
  EXPECT_EQ(names_in("d.py", "os.environ.get('" + k + "_PY')"), (std::set<std::string>{k + "_PY"}));
  EXPECT_EQ(names_in("CMakeLists.txt", "option(" + k + "_UNITY ON) $ENV{" + k + "_CM}"),
            (std::set<std::string>{k + "_CM"}));
}

}  // namespace
}  // namespace kiln
