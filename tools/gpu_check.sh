#!/usr/bin/env bash
# kiln's GPU check in one call (docs/gpu_check.md): builds a lean kiln against the machine's PyTorch LibTorch and
# CUDA/NCCL with only the carried dependencies, runs the NCCL backend tests, trains the ResNet sample with
# `kiln classification train --gpus 1` without and with --use_amp, trains the same model in PyTorch eager mode on the
# same GPU, and writes img/s, accuracy, logs and a summary to $OUT. On a machine without a GPU it does everything up
# to the CUDA parts: the same build (against Debian's LibTorch), short CPU runs of kiln and of the PyTorch script,
# and the CUDA parts reported as skipped.
#
#   tools/gpu_check.sh [options]        from anywhere; paths are the repository's
#     --carry DIR          the carried folder made by tools/gpu_prepare.sh (default: .gpu_carry)
#     --build DIR          build folder (default: build_gpu_check); the dependencies are rebuilt when absent
#     --out DIR            results (default: $OUT, else results/gpu_check)
#     --torch-prefix DIR   LibTorch's CMake prefix (default: torch.utils.cmake_prefix_path of the Python that
#                          imports torch, else /usr when Debian's libtorch-dev is there)
#     --hide-system-deps   build inside a mount namespace (unshare -m, needs root) where the system's headers, CMake
#                          packages and libraries of kiln's carried dependencies (Boost, yaml-cpp, nlohmann_json,
#                          CLI11, stb, GoogleTest, zlib's headers) and of the left-out features (MPI, PLplot, Gloo)
#                          are covered by empty mounts. The default when there is no GPU; --no-hide-system-deps
#                          turns it off
#     --epochs N           epochs of each GPU training run (default 10, on the 30000 carried training images)
#     --jobs N             build jobs (default: nproc)
#     --budget S           seconds the whole check may take (default 570); a run that would start with too little
#                          left is skipped, and each run is stopped at its share of what is left
#     --ccache             let ccache serve the build (default off, so the build time is a cold build's)
#
# Parts, each timed and reported in $OUT/summary.md (a failing part never stops the others):
#   1. dependencies: zlib, yaml-cpp and googletest built from the carried sources into BUILD/deps
#   2. kiln: configure (Ninja, Release, KILN_WITH_MPI/PLOTS/PROTOBUF/ONNX_EXPORT=OFF) and build kiln and
#      kiln_test_collectives; CMake's cache is checked: every carried dependency was found in the carried folder
#      or BUILD/deps. A build over 4 minutes is reported, not fatal
#   3. NCCL backend tests: kiln_test_collectives --gtest_filter='NcclBackend.*' (one rank: NCCL does not put two
#      ranks on one GPU)
#   4. GPU: kiln classification train --gpus 1, fp32 and --use_amp (fp16, loss scaling; channels_last as kiln's
#      auto memory format on CUDA); bench/classification_eager.py on cuda, fp32 and fp16 autocast with GradScaler,
#      both channels_last. CPU (no GPU): kiln classification train --device cpu and the PyTorch script on cpu, a few steps
# Exit status: 0 when every part that ran passed (skipped parts do not count), 1 otherwise, 2 for bad arguments.
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd -P)
ARGS=("$@")
CARRY=$SRC/.gpu_carry
BUILD=$SRC/build_gpu_check
OUT_DIR=${OUT:-$SRC/results/gpu_check}
TORCH_PREFIX=
HIDE=auto
EPOCHS=10
JOBS=$(nproc)
BUDGET=570
USE_CCACHE=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --carry) CARRY=$(readlink -f "$2"); shift 2 ;;
    --build) BUILD=$(readlink -m "$2"); shift 2 ;;
    --out) OUT_DIR=$(readlink -m "$2"); shift 2 ;;
    --torch-prefix) TORCH_PREFIX=$2; shift 2 ;;
    --hide-system-deps) HIDE=1; shift ;;
    --no-hide-system-deps) HIDE=0; shift ;;
    --epochs) EPOCHS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --ccache) USE_CCACHE=1; shift ;;
    -h|--help) usage ;;
    *) echo "gpu_check: unknown argument '$1'" >&2; usage ;;
  esac
done

START=${GPU_CHECK_START:-$(date +%s)}
log() { echo "gpu_check [$(($(date +%s) - START))s]: $*" >&2; }
die() { log "$*"; exit 1; }

# --- where we are: a GPU? ---------------------------------------------------------------------------------------
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PYTHON=$(command -v "$p"); break; fi
  done
fi
[ -n "$PYTHON" ] || die "no Python that imports torch (set PYTHON=...)"
GPU=0
if "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  GPU=1
fi
[ "$HIDE" != auto ] || HIDE=$((1 - GPU))

# The build runs in a mount namespace of its own where the system's copies of the carried dependencies are hidden;
# the mounts vanish with it.
HIDDEN=(
  /usr/include/boost /usr/include/yaml-cpp /usr/include/nlohmann /usr/include/CLI /usr/include/stb
  /usr/include/gtest /usr/include/gmock /usr/src/googletest /usr/include/zlib.h /usr/include/zconf.h
  /usr/include/plplot /usr/include/gloo /usr/lib/x86_64-linux-gnu/openmpi/include
  /usr/lib/x86_64-linux-gnu/cmake/Boost-1.74.0 /usr/lib/x86_64-linux-gnu/cmake/boost_headers-1.74.0
  /usr/lib/x86_64-linux-gnu/cmake/BoostDetectToolset-1.74.0.cmake /usr/lib/x86_64-linux-gnu/cmake/GTest
  /usr/lib/x86_64-linux-gnu/cmake/yaml-cpp /usr/lib/x86_64-linux-gnu/cmake/plplot
  /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json /usr/share/cmake/Gloo
  /usr/lib/x86_64-linux-gnu/libyaml-cpp.so /usr/lib/x86_64-linux-gnu/libz.a
  /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest_main.a
  /usr/lib/x86_64-linux-gnu/libgmock.a /usr/lib/x86_64-linux-gnu/libgmock_main.a
  /usr/lib/x86_64-linux-gnu/pkgconfig/yaml-cpp.pc /usr/lib/x86_64-linux-gnu/pkgconfig/zlib.pc
  /usr/share/pkgconfig/nlohmann_json.pc /usr/share/pkgconfig/CLI11.pc
)
if [ "$HIDE" = 1 ] && [ -z "${GPU_CHECK_IN_NS:-}" ]; then
  [ "$(id -u)" -eq 0 ] || die "--hide-system-deps needs root (unshare -m); --no-hide-system-deps builds without"
  command -v unshare >/dev/null || die "--hide-system-deps needs unshare (util-linux)"
  export GPU_CHECK_IN_NS=1 GPU_CHECK_START=$START PYTHON
  exec unshare -m --propagation private -- "$0" "${ARGS[@]}"
fi

mkdir -p "$OUT_DIR"
SUMMARY_ROWS=$OUT_DIR/.rows
: >"$SUMMARY_ROWS"
FAILED=0
# row PART STATUS SECONDS IMG_S ACCURACY NOTE: one line of the summary table (STATUS: pass, FAIL, skipped)
row() {
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$SUMMARY_ROWS"
  [ "$2" != FAIL ] || FAILED=1
  log "$1: $2${6:+ ($6)}"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }
left() { echo $((BUDGET - ($(date +%s) - START))); }
tail_of() { [ -f "$1" ] && tail -n 5 "$1" | tr '\n|' '  ' | cut -c1-300; }  # a log's last lines, for a table cell

if [ -n "${GPU_CHECK_IN_NS:-}" ]; then
  : >"$OUT_DIR/hidden_paths.txt"
  for p in "${HIDDEN[@]}"; do
    if [ -d "$p" ] && [ ! -L "$p" ]; then
      mount -t tmpfs -o ro,size=4k kiln-hidden "$p"
    elif [ -e "$p" ]; then
      mount --bind /dev/null "$p"
    else
      continue
    fi
    echo "$p" >>"$OUT_DIR/hidden_paths.txt"
  done
  log "system copies of the carried dependencies hidden: $(wc -l <"$OUT_DIR/hidden_paths.txt") paths ($OUT_DIR/hidden_paths.txt)"
fi

[ -f "$CARRY/MANIFEST" ] || die "no carried folder at $CARRY: run tools/gpu_prepare.sh first (on a machine with Debian's archive)"
if [ -z "$TORCH_PREFIX" ]; then
  TORCH_PREFIX=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  if ! ls "$TORCH_PREFIX"/Torch/TorchConfig.cmake >/dev/null 2>&1; then
    # Debian's python3-torch names a prefix without a CMake package; its libtorch-dev has one under /usr.
    ls /usr/lib/*/cmake/Torch/TorchConfig.cmake >/dev/null 2>&1 || die "no LibTorch CMake package at $TORCH_PREFIX or /usr"
    TORCH_PREFIX=/usr
  fi
fi
[ "$USE_CCACHE" = 1 ] || export CCACHE_DISABLE=1
command -v nvcc >/dev/null || [ ! -x /usr/local/cuda/bin/nvcc ] || export PATH=/usr/local/cuda/bin:$PATH
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "host: $(hostname), $(nproc) cores"
  echo "gpu: $([ $GPU = 1 ] && { nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
                                  "$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0))'; } || echo none)"
  echo "python: $PYTHON, torch $("$PYTHON" -c 'import torch; print(torch.__version__, torch.version.cuda)')"
  echo "torch prefix: $TORCH_PREFIX"; echo "cmake: $(cmake --version | head -1)"; echo "c++: $(c++ --version | head -1)"
  echo "nvcc: $(command -v nvcc >/dev/null && nvcc --version | tail -1 || echo none)"
  echo "hidden system deps: $([ -n "${GPU_CHECK_IN_NS:-}" ] && echo yes || echo no)"
  echo "carried: $(du -sh "$CARRY" | cut -f1) ($CARRY)"
} >"$OUT_DIR/environment.txt"
log "$(tr '\n' ';' <"$OUT_DIR/environment.txt")"

DEPS=$BUILD/deps
CMAKE_COMMON=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_POLICY_VERSION_MINIMUM=3.5 -Wno-dev)

# --- 1. dependencies from the carried sources ---------------------------------------------------------------------
build_dep() {  # build_dep NAME CMAKE_ARGS...: configure, build and install one carried source tree into $DEPS
  local name=$1; shift
  cmake -S "$CARRY/src/$name" -B "$BUILD/dep-$name" "${CMAKE_COMMON[@]}" -DCMAKE_INSTALL_PREFIX="$DEPS" \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF "$@" &&
    cmake --build "$BUILD/dep-$name" -j "$JOBS" && cmake --install "$BUILD/dep-$name"
}
# zlib with its own configure, as Debian builds it (its CMakeLists needs win32/, which Debian's source leaves out):
# the static library only, so nothing at run time comes from the carry.
build_zlib() {
  rm -rf "$BUILD/dep-zlib" && mkdir -p "$BUILD" && cp -a "$CARRY/src/zlib" "$BUILD/dep-zlib" &&
    (cd "$BUILD/dep-zlib" && CFLAGS="-O2 -fPIC" ./configure --static --prefix="$DEPS" && make -j "$JOBS" libz.a &&
       make install)
}
t0=$(now)
if [ -f "$DEPS/.complete" ]; then
  row "dependencies (zlib, yaml-cpp, googletest)" pass 0 "" "" "already in $DEPS"
elif mkdir -p "$BUILD" && {
  build_zlib &&
    build_dep yaml-cpp -DYAML_CPP_BUILD_TESTS=OFF -DYAML_CPP_BUILD_TOOLS=OFF -DYAML_CPP_BUILD_CONTRIB=OFF \
      -DYAML_BUILD_SHARED_LIBS=OFF &&
    build_dep googletest -DBUILD_GMOCK=OFF -DINSTALL_GTEST=ON
} >"$OUT_DIR/deps_build.log" 2>&1; then
  touch "$DEPS/.complete"
  row "dependencies (zlib, yaml-cpp, googletest)" pass "$(secs "$t0")" "" "" "from $CARRY/src, -j$JOBS"
else
  row "dependencies (zlib, yaml-cpp, googletest)" FAIL "$(secs "$t0")" "" "" "deps_build.log: $(tail_of "$OUT_DIR/deps_build.log")"
fi

# --- 2. kiln, lean -------------------------------------------------------------------------------------------------
LEAN_BUILD=$BUILD/kiln
NCCL_ARGS=()
# pip's PyTorch brings its own NCCL (nvidia-nccl-cu*); kiln links the same one, so one NCCL is loaded.
if [ "$GPU" = 1 ] && nccl_dir=$("$PYTHON" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null) &&
   [ -f "$nccl_dir/include/nccl.h" ]; then
  nccl_lib=$(ls "$nccl_dir"/lib/libnccl.so* 2>/dev/null | head -1)
  [ -z "$nccl_lib" ] || NCCL_ARGS=(-DNCCL_INCLUDE_DIR="$nccl_dir/include" -DNCCL_LIBRARY="$nccl_lib")
fi
configure_kiln() {  # configure_kiln [EXTRA CMAKE ARGS...]
  cmake -S "$SRC" -B "$LEAN_BUILD" "${CMAKE_COMMON[@]}" -DKILN_WITH_MPI=OFF -DKILN_WITH_PLOTS=OFF \
    -DKILN_WITH_PROTOBUF=OFF -DKILN_WITH_ONNX_EXPORT=OFF -DKILN_BUILD_TESTS=ON \
    -DCMAKE_PREFIX_PATH="$DEPS;$CARRY/deps;$TORCH_PREFIX" \
    -DBoost_DIR="$CARRY/deps/lib/x86_64-linux-gnu/cmake/Boost-1.74.0" "${NCCL_ARGS[@]}" "$@"
}
# A CUDA LibTorch whose CMake package asks for the NVTX library that CUDA 12.9+ no longer ships: configure again
# with tools/gpu_check_nvtx.cmake, which lets the header-only NVTX stand for it.
configure_kiln_retrying() {
  configure_kiln && return 0
  grep -q 'nvToolsExt' "$OUT_DIR/kiln_build.log" || return 1
  echo "gpu_check: configuring again with tools/gpu_check_nvtx.cmake (CUDA::nvToolsExt missing)"
  rm -f "$LEAN_BUILD/CMakeCache.txt"
  configure_kiln -DCMAKE_PROJECT_kiln_INCLUDE="$SRC/tools/gpu_check_nvtx.cmake"
}
t0=$(now)
build_ok=0
if [ -f "$DEPS/.complete" ] && {
  configure_kiln_retrying && cmake --build "$LEAN_BUILD" -j "$JOBS" --target kiln kiln_test_collectives
} >"$OUT_DIR/kiln_build.log" 2>&1; then
  build_s=$(secs "$t0")
  # Where CMake found each carried dependency: all of them in the carried folder or in $DEPS.
  : >"$OUT_DIR/found_deps.txt"
  outside=
  for var in yaml-cpp_DIR Boost_DIR boost_headers_DIR nlohmann_json_DIR CLI11_DIR GTest_DIR ZLIB_INCLUDE_DIR \
             ZLIB_LIBRARY_RELEASE STB_INCLUDE_DIR; do
    value=$(sed -n "s/^$var:[A-Z]*=//p" "$LEAN_BUILD/CMakeCache.txt")
    echo "$var=$value" >>"$OUT_DIR/found_deps.txt"
    case $value in "$CARRY"/*|"$DEPS"/*) ;; *) outside="$outside $var=$value" ;; esac
  done
  grep -E '^(NCCL_INCLUDE_DIR|NCCL_LIBRARY|Torch_DIR|CUDAToolkit_BIN_DIR)[:=]' "$LEAN_BUILD/CMakeCache.txt" \
    >>"$OUT_DIR/found_deps.txt" || true
  grep -E '^-- kiln: ' "$OUT_DIR/kiln_build.log" >>"$OUT_DIR/found_deps.txt" || true
  if [ -n "$outside" ]; then
    row "kiln lean build" FAIL "$build_s" "" "" "dependencies found outside the carried folder:$outside"
  else
    build_ok=1
    note="kiln + kiln_test_collectives, -j$JOBS, all carried deps from $CARRY or $DEPS (found_deps.txt)"
    ! grep -q 'gpu_check_nvtx.cmake' "$OUT_DIR/kiln_build.log" || note="$note; with tools/gpu_check_nvtx.cmake"
    [ "$build_s" -le 240 ] || note="$note; OVER the 4-minute target"
    row "kiln lean build" pass "$build_s" "" "" "$note"
  fi
else
  row "kiln lean build" FAIL "$(secs "$t0")" "" "" "kiln_build.log: $(tail_of "$OUT_DIR/kiln_build.log")"
fi
[ "$build_ok" != 1 ] || "$LEAN_BUILD/kiln" info >"$OUT_DIR/kiln_info.txt" 2>&1 || true
[ ! -f "$LEAN_BUILD/compile_commands.json" ] || cp "$LEAN_BUILD/compile_commands.json" "$OUT_DIR/"
grep -E '(/(common|specs|cluster|collectives|networks|runtime|migrate|launcher)/[^ ]*): warning:' \
  "$OUT_DIR/kiln_build.log" >"$OUT_DIR/kiln_warnings.txt" 2>/dev/null || true

# --- 3. NCCL backend tests -----------------------------------------------------------------------------------------
if [ "$build_ok" = 1 ]; then
  t0=$(now)
  if timeout 120 "$LEAN_BUILD/tests/kiln_test_collectives" --gtest_filter='NcclBackend.*' --gtest_brief=0 \
       >"$OUT_DIR/nccl_tests.log" 2>&1; then
    # One line per test with its time; WithoutNcclFactoriesSayWhy is skipped whenever NCCL is compiled in.
    passed=$(grep -cE '^\[       OK \] NcclBackend\.\w+ \(' "$OUT_DIR/nccl_tests.log" || true)
    skipped=$(grep -cE '^\[  SKIPPED \] NcclBackend\.\w+ \(' "$OUT_DIR/nccl_tests.log" || true)
    skipped_gpu=$(grep -E '^\[  SKIPPED \] NcclBackend\.\w+ \(' "$OUT_DIR/nccl_tests.log" |
                  grep -vc 'WithoutNcclFactoriesSayWhy' || true)
    if [ "$GPU" = 1 ] && { [ "$skipped_gpu" -gt 0 ] || ! grep -q 'kiln: CUDA .* and NCCL found' "$OUT_DIR/found_deps.txt"; }; then
      row "NCCL backend tests" FAIL "$(secs "$t0")" "" "" "$passed passed, $skipped skipped on a GPU machine (NCCL not built or no device): nccl_tests.log"
    elif [ "$GPU" = 1 ]; then
      row "NCCL backend tests" pass "$(secs "$t0")" "" "" "$passed passed (one rank)"
    else
      built=$(grep -q 'kiln: CUDA .* and NCCL found' "$OUT_DIR/found_deps.txt" && echo "NCCL backend built" ||
              echo "CUDA/NCCL not found, NCCL backend not built")
      row "NCCL backend tests" skipped "$(secs "$t0")" "" "" "no GPU ($built): $passed passed, $skipped skipped"
    fi
  else
    row "NCCL backend tests" FAIL "$(secs "$t0")" "" "" "nccl_tests.log: $(tail_of "$OUT_DIR/nccl_tests.log")"
  fi
else
  row "NCCL backend tests" skipped 0 "" "" "kiln did not build"
fi

# --- 4. training runs ------------------------------------------------------------------------------------------------
DATA=$CARRY/data/fashion-mnist
SPEC=$SRC/specs/samples/classification_resnet_fmnist.yaml
# The sample on the carried data; validated every epoch so that a run stopped early still has an accuracy.
SAMPLE_OVERRIDES=(
  "dataset_config.train.images=$DATA/train-images-idx3-ubyte.gz" "dataset_config.train.labels=$DATA/train-labels-idx1-ubyte.gz"
  "dataset_config.val.images=$DATA/t10k-images-idx3-ubyte.gz" "dataset_config.val.labels=$DATA/t10k-labels-idx1-ubyte.gz"
  "eval_config.validation_period_during_training=1"
)

# kiln_numbers RESULTS: "img/s;img/s after epoch 1;last val accuracy;epochs" from training_history.csv
kiln_numbers() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
           { s = $col["seconds"]; n = $col["images_per_s"] * s; S += s; N += n; if (NR > 2) { S2 += s; N2 += n }
             if ($col["val_accuracy"] != "") acc = $col["val_accuracy"]; e = $1 }
           END { printf "%s;%s;%s;%s", (S > 0 ? sprintf("%.0f", N / S) : ""), (S2 > 0 ? sprintf("%.0f", N2 / S2) : ""),
                 acc, e }' "$1/training_history.csv"
}

# run_kiln NAME ARGS...: kiln classification train on the sample into $OUT_DIR/NAME
run_kiln() {
  local name=$1; shift
  local limit t0 rc=0 nums note
  limit=$(($(left) - 15))
  [ "$limit" -le 150 ] || limit=150
  if [ "$build_ok" != 1 ]; then row "$name" skipped 0 "" "" "kiln did not build"; return; fi
  if [ "$limit" -lt 20 ]; then row "$name" skipped 0 "" "" "no time left in the ${BUDGET}s budget"; return; fi
  rm -rf "${OUT_DIR:?}/$name"
  t0=$(now)
  timeout -k 10 "$limit" "$LEAN_BUILD/kiln" classification train -e "$SPEC" -r "$OUT_DIR/$name" "$@" \
    >"$OUT_DIR/$name.log" 2>&1 || rc=$?
  nums=$(kiln_numbers "$OUT_DIR/$name" 2>/dev/null) || nums=""
  IFS=';' read -r ips ips2 acc epochs <<<"$nums"
  note="log $name.log; epochs done: ${epochs:-0}; img/s after epoch 1: ${ips2:-n/a}"
  if [ "$rc" = 0 ]; then
    row "$name" pass "$(secs "$t0")" "${ips:-}" "${acc:-}" "$note"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    row "$name" FAIL "$(secs "$t0")" "${ips:-}" "${acc:-}" "stopped at the ${limit}s limit; $note"
  else
    row "$name" FAIL "$(secs "$t0")" "${ips:-}" "${acc:-}" "exit $rc: $(tail_of "$OUT_DIR/$name.log")"
  fi
}

# run_eager NAME ARGS...: bench/classification_eager.py, its JSON line in $OUT_DIR/NAME.json
run_eager() {
  local name=$1; shift
  local limit t0 rc=0
  limit=$(($(left) - 10))
  [ "$limit" -le 150 ] || limit=150
  if [ "$limit" -lt 20 ]; then row "$name" skipped 0 "" "" "no time left in the ${BUDGET}s budget"; return; fi
  t0=$(now)
  timeout -k 10 "$limit" "$PYTHON" "$SRC/bench/classification_eager.py" --data "$DATA" "$@" \
    >"$OUT_DIR/$name.json" 2>"$OUT_DIR/$name.log" || rc=$?
  if [ "$rc" = 0 ]; then
    read -r ips ips2 acc < <("$PYTHON" -c 'import json, sys; r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
later = r["images_per_s_after_first_epoch"]
print(round(r["images_per_s"]), round(later) if later else "n/a", r["val_accuracy"])' "$OUT_DIR/$name.json")
    row "$name" pass "$(secs "$t0")" "$ips" "$acc" "log $name.log, $name.json; img/s after epoch 1: $ips2"
  else
    row "$name" FAIL "$(secs "$t0")" "" "" "exit $rc$([ "$rc" = 124 ] && echo " (the ${limit}s limit)"): $(tail_of "$OUT_DIR/$name.log")"
  fi
}

if [ "$GPU" = 1 ]; then
  GPU_OVERRIDES=("${SAMPLE_OVERRIDES[@]}" "train_config.n_epochs=$EPOCHS" "train_config.checkpoint_interval=$EPOCHS"
                 "train_config.n_workers=4")
  run_kiln kiln_gpu_fp32 --gpus 1 "${GPU_OVERRIDES[@]}"
  run_kiln kiln_gpu_amp --gpus 1 --use_amp "${GPU_OVERRIDES[@]}"
  # kiln on CUDA trains in channels_last (memory_format auto) and --use_amp is fp16 with dynamic loss scaling (dtype
  # auto): PyTorch gets the same, torch.autocast fp16 with its GradScaler.
  run_eager eager_gpu_fp32 --device cuda --epochs "$EPOCHS" --channels_last
  run_eager eager_gpu_fp16 --device cuda --epochs "$EPOCHS" --amp fp16 --channels_last
else
  # A few steps on the CPU: the lean kiln trains and validates (and says it was built without plotting).
  run_kiln kiln_cpu --device cpu "${SAMPLE_OVERRIDES[@]}" train_config.n_epochs=1 train_config.checkpoint_interval=1 \
    dataset_config.train.max_samples=1280 dataset_config.val.max_samples=1000
  run_eager eager_cpu --device cpu --epochs 1 --max-steps 10 --val-samples 1000
  for name in kiln_gpu_fp32 kiln_gpu_amp eager_gpu_fp32 eager_gpu_fp16; do row "$name" skipped 0 "" "" "no GPU"; done
fi

# --- summary ---------------------------------------------------------------------------------------------------------
{
  echo "# kiln GPU check"
  echo
  sed 's/^/    /' "$OUT_DIR/environment.txt"
  echo
  echo "| part | status | wall s | img/s | val accuracy | notes |"
  echo "|---|---|---|---|---|---|"
  cat "$SUMMARY_ROWS"
  echo
  echo "Training runs: specs/samples/classification_resnet_fmnist.yaml (ResNet-10, width 16, batch 128) on the carried"
  echo "Fashion-MNIST ($(basename "$DATA"): 30000 training images, 10000 validation images), $EPOCHS epochs on the GPU."
  echo "img/s: training images over training seconds, all epochs (kiln: training_history.csv; PyTorch: the script's"
  echo "JSON line). Total: $(($(date +%s) - START)) s of a ${BUDGET} s budget."
} >"$OUT_DIR/summary.md"
rm -f "$SUMMARY_ROWS"
cat "$OUT_DIR/summary.md"
exit "$FAILED"
