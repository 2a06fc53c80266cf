# Third-party dependencies. All are Debian 12 packages (see setup.sh); CUDA/NCCL are optional.
#
# Features that need a dependency of their own can be left out (each ON by default, so the normal build has them
# all). A build without one compiles an alternative source file in its place that says so when the feature is asked
# for: a warning where the feature is a side output (plots), an error naming the option where it is the command
# (export, spec import) or an explicit setting (visualizer.enabled, CPU ranks under MPI). The lean build of
# tools/gpu_check.sh turns all four off (docs/gpu_check.md).
option(KILN_WITH_MPI "MPI: the CPU backend of ranks started by mpirun/srun (a single process and --gpus 1 need none)" ON)
option(KILN_WITH_PLOTS "PLplot: training_curves.png and pr_curves.png" ON)
option(KILN_WITH_PROTOBUF "protobuf + protoc: TensorBoard event files and `kiln spec import`" ON)
option(KILN_WITH_ONNX_EXPORT "ONNX export (libonnx; needs KILN_WITH_PROTOBUF)" ON)
if(KILN_WITH_ONNX_EXPORT AND NOT KILN_WITH_PROTOBUF)
  message(FATAL_ERROR "KILN_WITH_ONNX_EXPORT=ON needs KILN_WITH_PROTOBUF=ON (ONNX models are protobuf messages); "
                      "turn both off, or both on")
endif()
find_package(Threads REQUIRED)
find_package(Torch REQUIRED)            # libtorch-dev 1.13 (Debian 12), 2.6 (Debian 13: tools/check_libtorch2.sh) or a
                                        # LibTorch 2.x via CMAKE_PREFIX_PATH
find_package(yaml-cpp REQUIRED)         # target: yaml-cpp (0.7, no namespace)
if(POLICY CMP0167)                      # CMake 3.30+: Boost's own BoostConfig.cmake, not the removed FindBoost
  cmake_policy(SET CMP0167 NEW)
endif()
find_package(Boost 1.74 REQUIRED)       # Boost::headers (Asio is header-only)
if(KILN_WITH_MPI)
  find_package(MPI REQUIRED COMPONENTS CXX)
endif()
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
# protobuf (Debian's shared libprotobuf, the one LibTorch and libonnx link) and protoc: ONNX export, TensorBoard event
# files (runtime/proto) and TAO's spec messages (migrate/proto).
if(KILN_WITH_PROTOBUF)
  find_package(Protobuf REQUIRED)
endif()
# PLplot (training-curve plots). Debian's plplot CMake package is incomplete; pkg-config is reliable.
if(KILN_WITH_PLOTS)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PLPLOT REQUIRED IMPORTED_TARGET plplot)
endif()
message(STATUS "kiln: MPI ${KILN_WITH_MPI}, plots ${KILN_WITH_PLOTS}, protobuf ${KILN_WITH_PROTOBUF}, "
               "ONNX export ${KILN_WITH_ONNX_EXPORT}")
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)

# CUDA + NCCL: found automatically when present (e.g. /usr/local/cuda); compile/link only, no GPU needed.
find_package(CUDAToolkit QUIET)
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
  set(KILN_HAVE_NCCL ON)
  message(STATUS "kiln: CUDA ${CUDAToolkit_VERSION} and NCCL found (${NCCL_LIBRARY})")
else()
  set(KILN_HAVE_NCCL OFF)
  message(STATUS "kiln: CUDA/NCCL not found; NCCL backend disabled")
endif()

# Gloo (libgloo-dev): the CPU backend for ranks started without MPI (torchrun). Optional: a LibTorch 2.x bundles
# its own, newer Gloo, so a GPU host without libgloo-dev builds without it (make_gloo_communicator then says so).
find_path(GLOO_INCLUDE_DIR gloo/rendezvous/context.h)
find_library(GLOO_LIBRARY gloo)
if(GLOO_INCLUDE_DIR AND GLOO_LIBRARY)
  set(KILN_HAVE_GLOO ON)
  message(STATUS "kiln: Gloo found (${GLOO_LIBRARY})")
else()
  set(KILN_HAVE_GLOO OFF)
  message(STATUS "kiln: Gloo not found; Gloo backend disabled")
endif()

# Torch's exported flags carry -D_GLIBCXX_USE_CXX11_ABI; keep them on every target that touches torch.
separate_arguments(KILN_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
