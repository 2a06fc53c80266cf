// `kiln info [--verbose]`: versions of kiln and its libraries, threads, devices, networks and subtasks; verbose adds
// the KILN_ environment variables set (kiln/common/env_knobs.h), the job token masked.
#pragma once
#include <string>

namespace kiln::launcher {

std::string info_text(bool verbose);

// Usable CUDA devices on this host (0 when kiln was built without CUDA or there is no driver/device).
int cuda_device_count();

}  // namespace kiln::launcher
