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
  kiln_unity(kiln_${name})
endfunction()

# Unity batches (KILN_UNITY, see the top-level CMakeLists.txt). Sources in a batch share one translation unit, so
# file-local names (anonymous namespaces, statics) must not repeat within a module.
function(kiln_unity target)
  if(KILN_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${KILN_UNITY_BATCH})
  endif()
endfunction()

# The torch precompiled header is built once (kiln_torch_pch) and reused by every torch-heavy target.
add_library(kiln_torch_pch STATIC ${CMAKE_CURRENT_LIST_DIR}/torch_pch.cpp)
target_link_libraries(kiln_torch_pch PUBLIC ${TORCH_LIBRARIES})
target_compile_options(kiln_torch_pch PUBLIC ${KILN_TORCH_CXX_FLAGS} PRIVATE ${KILN_WARNINGS})
target_precompile_headers(kiln_torch_pch PRIVATE ${CMAKE_CURRENT_LIST_DIR}/torch_pch.h)

function(kiln_use_torch target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_link_libraries(${target} INTERFACE kiln_torch_pch)
    return()
  endif()
  target_link_libraries(${target} PUBLIC kiln_torch_pch)
  target_precompile_headers(${target} REUSE_FROM kiln_torch_pch)
  # Torch headers are third-party; keep their warnings out of our -Wall -Wextra output.
  target_compile_options(${target} PRIVATE -Wno-unused-parameter)
endfunction()
