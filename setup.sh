#!/usr/bin/env bash
# kiln setup: installs every missing Debian package (idempotent, quiet when nothing is missing), then builds.
#   ./setup.sh                          install + build (Release, into ./build)
#   KILN_BUILD_DIR=dir                  build somewhere else
#   KILN_BUILD_TYPE=RelWithDebInfo      a build with debug information (or Debug)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread          # LibTorch 1.13; without OpenBLAS-pthread it uses reference BLAS
  libopenmpi-dev openmpi-bin                 # MPI backend and mpirun
  libgloo-dev                                # Gloo backend: CPU ranks without MPI (torchrun)
  libyaml-cpp-dev libboost-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libonnx-dev zlib1g-dev libstb-dev libplplot-dev plplot-driver-cairo
  protobuf-compiler                          # kiln spec import: TAO's spec messages (migrate/proto)
  dataset-fashion-mnist                      # /usr/share/datasets/fashion-mnist
  python3-torch python3-torchvision          # golden tests and the PyTorch reference benchmarks
  slurm-wlm munge                            # the Slurm tests' private cluster (tools/slurm_local.sh)
  iproute2 nftables bc                       # hosts as network namespaces (tools/netns_cluster.sh; ip, tc, nft), timings
)

command -v node >/dev/null || PACKAGES+=(nodejs npm)  # onnxruntime-node checks exports (any Node.js 18+ will do)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# onnxruntime (CPU) for checking exported ONNX models (docs/export.md): the onnxruntime-node package from the npm
# registry, into ./.deps (gitignored). --ignore-scripts: its install script only fetches GPU providers; the CPU
# runtime ships in the package. Skipped when the pinned version is already there.
ORT_NODE_VERSION=1.30.0
if ! grep -qs "\"version\": \"$ORT_NODE_VERSION\"" .deps/node_modules/onnxruntime-node/package.json; then
  if command -v npm >/dev/null; then
    echo "setup: installing onnxruntime-node@$ORT_NODE_VERSION into .deps"
    mkdir -p .deps
    if ! npm install --prefix .deps --ignore-scripts --no-audit --no-fund --no-save --loglevel=error \
        "onnxruntime-node@$ORT_NODE_VERSION" >.deps/npm.log 2>&1; then
      tail -20 .deps/npm.log >&2
      echo "setup: npm install onnxruntime-node failed (log: .deps/npm.log)" >&2
      exit 1
    fi
  else
    echo "setup: warning: npm not found; install Node.js 18+ and npm, then rerun, or the ONNX export checks fail" >&2
  fi
fi

BUILD_DIR=${KILN_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ -n "${KILN_BUILD_TYPE:-}" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${KILN_BUILD_TYPE:-Release}" >/dev/null
fi
if ! cmake --build "$BUILD_DIR" -- -j"$(nproc)" >"$BUILD_DIR/build.log" 2>&1; then
  grep -E "error|FAILED" "$BUILD_DIR/build.log" | head -40 >&2
  echo "setup: build failed (full log: $BUILD_DIR/build.log)" >&2
  exit 1
fi
echo "setup: ready ($BUILD_DIR/kiln)"
