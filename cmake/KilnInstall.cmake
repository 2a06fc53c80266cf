# `cmake --install build --prefix DIR` gives a kiln that can be moved anywhere:
#   DIR/bin/kiln
#   DIR/share/kiln/tools/ort_run.js              the ONNX check's runner (found from the executable's own path)
#   DIR/share/kiln/.deps/node_modules/…          onnxruntime-node as setup.sh installed it (Linux binaries only)
#   DIR/share/kiln/specs/samples/                the sample specs
#   DIR/share/doc/kiln/                          README.md and docs/
# The executable keeps the run path of the libraries it was linked with outside the system's (e.g. CUDA's), so it
# starts wherever it is moved on this machine or one with the same libraries (CMAKE_INSTALL_RPATH_USE_LINK_PATH, set
# in the top-level CMakeLists.txt before the target exists).
include(GNUInstallDirs)
set(KILN_SHARE ${CMAKE_INSTALL_DATADIR}/kiln)

install(TARGETS kiln RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS tools/ort_run.js DESTINATION ${KILN_SHARE}/tools)
install(DIRECTORY specs/samples/ DESTINATION ${KILN_SHARE}/specs/samples)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(EXISTS ${PROJECT_SOURCE_DIR}/.deps/node_modules)
  install(DIRECTORY .deps/node_modules DESTINATION ${KILN_SHARE}/.deps USE_SOURCE_PERMISSIONS
          REGEX "/bin/napi-v[0-9]+/(darwin|win32)$" EXCLUDE)
else()
  message(STATUS "onnxruntime-node is not in .deps (run ./setup.sh): an installed kiln will export without the "
                 "onnxruntime check")
endif()
