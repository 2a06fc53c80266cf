# Helpers shared by every module's CMakeLists.

set(KILN_WARNINGS -Wall -Wextra -Wno-unused-parameter)

# kiln_module(<name> SOURCES ... DEPS ...): library target kiln_<name> with public headers in <name>/include.
function(kiln_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  if(NOT M_SOURCES)  # module still being written: header-only for now
    add_library(kiln_${name} INTERFACE)
    target_include_directories(kiln_${name} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(kiln_${name} INTERFACE ${M_DEPS})
    return()
  endif()
  add_library(kiln_${name} STATIC ${M_SOURCES})
  target_include_directories(kiln_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(kiln_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  target_compile_options(kiln_${name} PRIVATE ${KILN_WARNINGS})
endfunction()

# Unity batches (KILN_UNITY, see the top-level CMakeLists.txt) for the torch-using modules, where parsing LibTorch's
# headers and instantiating its templates dominates. Sources in a batch share one translation unit, so file-local
# names (anonymous namespaces, statics) must not repeat within such a module.
function(kiln_unity target)
  if(KILN_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${KILN_UNITY_BATCH})
  endif()
endfunction()

# LibTorch for a target: its libraries and flags, and unity batches for libraries. No precompiled header: GCC's
# header of ATen + torch/nn + torch/optim is 565 MB, and loading it costs more per file (8-9 s of CPU) than parsing the
# headers each file includes (measured in docs/benchmarks.md, "Build time").
add_library(kiln_torch INTERFACE)
target_link_libraries(kiln_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(kiln_torch INTERFACE ${KILN_TORCH_CXX_FLAGS})

function(kiln_use_torch target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_link_libraries(${target} INTERFACE kiln_torch)
    return()
  endif()
  target_link_libraries(${target} PUBLIC kiln_torch)
  if(NOT type STREQUAL "EXECUTABLE")
    kiln_unity(${target})
  endif()
  # Torch headers are third-party; keep their warnings out of our -Wall -Wextra output.
  target_compile_options(${target} PRIVATE -Wno-unused-parameter)
endfunction()
