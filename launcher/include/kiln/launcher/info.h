// `kiln info [--verbose]`: versions of kiln and its libraries, threads, devices, networks and subtasks.
#pragma once
#include <string>

namespace kiln::launcher {

std::string info_text(bool verbose);

}  // namespace kiln::launcher
