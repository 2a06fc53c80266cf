# Included by tools/gpu_check.sh (CMAKE_PROJECT_kiln_INCLUDE) only when configuring against a CUDA LibTorch failed
# for want of CUDA::nvToolsExt: CUDA 12.9 and later ship NVTX as headers only (CUDA::nvtx3), and some LibTorch 2.x
# CMake packages still name the old library when they do not find their own NVTX 3. The old name then stands for the
# header-only one; kiln itself uses no NVTX.
find_package(CUDAToolkit QUIET)
if(TARGET CUDA::nvtx3 AND NOT TARGET CUDA::nvToolsExt)
  add_library(CUDA::nvToolsExt INTERFACE IMPORTED)
  target_link_libraries(CUDA::nvToolsExt INTERFACE CUDA::nvtx3)
  message(STATUS "kiln gpu_check: CUDA::nvToolsExt stands for CUDA::nvtx3 (tools/gpu_check_nvtx.cmake)")
endif()
