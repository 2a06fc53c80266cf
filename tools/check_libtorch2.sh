#!/usr/bin/env bash
# Builds kiln against LibTorch 2.x and runs its unit tests there (CPU): in a Debian 13 (trixie) root, whose
# libtorch-dev is 2.6, next to this host's Debian 12 build against 1.13 (docs/libtorch2.md).
#
#   tools/check_libtorch2.sh [ROOT_DIR]      ROOT_DIR: the Debian 13 root (default: .trixie in the source tree,
#                                            gitignored)
#
# 1. Makes the root once (debootstrap --variant=minbase trixie, then apt-get install --no-install-recommends of what
#    kiln's build and unit tests need); skipped when it is already there. Needs root, debootstrap and
#    http://deb.debian.org/debian.
# 2. Mounts the source tree read-only at ROOT/src and builds it from scratch in ROOT/build (CMake + Ninja, Release,
#    kiln's own -Wall -Wextra; ccache in the root makes a rerun quick); lists the compiler warnings in kiln's own code.
# 3. Runs the unit tests with ctest: the labels of the GoogleTest executables kiln_test_<module> of the library
#    modules, and the MPI backend under a local mpirun (label collectives). Not e2e, golden (python3-torch), docs,
#    install, slurm, torchrun or multinode: those are end-to-end runs of the kiln binary, not checks of the sources
#    against another LibTorch. The ONNX export tests run onnxruntime-node (setup.sh's .deps/node_modules, mounted
#    read-only at ROOT/opt/kiln-ort); without it they are left out and the summary says so.
# 4. Prints a summary (LibTorch, GCC, CMake, timings, tests passed/failed). Exit status: 0 when everything built
#    and every test run passed, 1 otherwise. The mounts live in a mount namespace of the script's own (unshare) and
#    are undone on exit; processes left in the root by an interrupted run are ended.
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd -P)
ROOT_ARG=${1:-$SRC/.trixie}
[ $# -le 1 ] || { echo "usage: $0 [ROOT_DIR]" >&2; exit 2; }
MIRROR=http://deb.debian.org/debian
SUITE=trixie
UNIT_LABELS='^(common|specs|cluster|collectives|data|networks|runtime|launcher|export|detection|migrate)$'
# Build and unit-test packages (setup.sh's list; the names are the same in Debian 13). Left out: slurm-wlm, munge,
# python3-torch, python3-torchvision, iproute2, nftables and npm (end-to-end, golden and multi-host tests only).
# nodejs runs onnxruntime-node for the export tests; Fashion-MNIST is read by unit tests of data, detection and export;
# python3 reads TensorBoard files back (tests/support/tfevents.py); protoc compiles runtime/proto and migrate/proto.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libgloo-dev
  libyaml-cpp-dev libboost-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libonnx-dev zlib1g-dev libstb-dev libplplot-dev plplot-driver-cairo
  protobuf-compiler python3
  nodejs dataset-fashion-mnist
)

log() { echo "check_libtorch2: $*" >&2; }
TIMES=$(mktemp)
mark() {  # mark NAME: sets NAME_wall (the clock) and NAME_cpu (user + system seconds of finished child processes)
  times >"$TIMES"  # the builtin, in this shell: its second line is the children's user and system time
  printf -v "${1}_wall" '%s' "$(date +%s)"
  printf -v "${1}_cpu" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
                                 printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$TIMES")"
}
took() {  # took FROM TO: wall clock and CPU time between two marks
  local fw=${1}_wall tw=${2}_wall fc=${1}_cpu tc=${2}_cpu
  awk -v w=$((${!tw} - ${!fw})) -v c=$((${!tc} - ${!fc})) \
    'BEGIN { if (w >= 120) printf "%.1f min", w / 60; else printf "%d s", w; printf " (CPU %.1f min)", c / 60 }'
}
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
# Everything below runs in a mount namespace of its own: its mounts are never seen outside, and vanish with it even
# if it is killed. The exit trap unmounts them as well.
if [ "${CHECK_LIBTORCH2_NAMESPACE:-}" != "$$" ]; then
  exec unshare --mount --propagation private /bin/bash -c \
    'export CHECK_LIBTORCH2_NAMESPACE=$$; exec "$0" "$@"' "$(readlink -f "$0")" "$@"
fi
mkdir -p "$ROOT_ARG"
ROOT=$(cd "$ROOT_ARG" && pwd -P)
[ "$ROOT" != / ] || die "ROOT_DIR must not be /"

# ---- mounts, undone on exit
MOUNTS=()
mount_at() {  # mount_at TARGET MOUNT-ARGS...: mounts, and remembers TARGET for the exit trap
  local target=$1
  shift
  mkdir -p "$target"
  mount "$@" "$target"
  MOUNTS+=("$target")
}
bind_ro() {  # bind_ro SOURCE TARGET: a read-only bind mount
  mount_at "$2" --bind "$1"
  mount -o remount,bind,ro "$2"
}
cleanup() {
  local rc=$? pid i
  # Processes still running inside the root (an interrupted build or test): they were started here, end them.
  for pid in /proc/[0-9]*; do
    [ "$(readlink "$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -KILL "${pid#/proc/}" 2>/dev/null
  done
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null ||
      log "warning: could not unmount ${MOUNTS[i]}"
  done
  MOUNTS=()
  rm -f "$TIMES"
  if grep -q " $ROOT/" /proc/mounts; then
    log "warning: still mounted under $ROOT:"
    grep " $ROOT/" /proc/mounts >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mount_system() {  # what apt, Open MPI and the tests need from /proc, /dev and /sys
  mount_at "$ROOT/proc" -t proc proc
  mount_at "$ROOT/dev" --bind /dev
  mount_at "$ROOT/dev/shm" -t tmpfs -o mode=1777,size=2g tmpfs
  mount_at "$ROOT/dev/pts" -t devpts -o newinstance,ptmxmode=0666 devpts
  bind_ro /sys "$ROOT/sys"
}

in_root() {  # in_root COMMAND: runs a bash command line in the root, with a clean environment
  env -i HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    chroot "$ROOT" /bin/bash -c "$1"
}

# ---- 1. the root
mark start
made_root=no
if [ ! -f "$ROOT/.kiln-base" ]; then
  command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap"
  if [ -n "$(ls -A "$ROOT")" ]; then
    [ -f "$ROOT/debootstrap/debootstrap.log" ] ||
      die "$ROOT is not empty and is no unfinished root of this script; give another ROOT_DIR or remove it"
    log "an earlier debootstrap did not finish: starting over in $ROOT"
    grep -q " $ROOT/" /proc/mounts && die "something is mounted under $ROOT; unmount it first"
    find "$ROOT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  fi
  log "debootstrap --variant=minbase $SUITE $ROOT $MIRROR (a few minutes)"
  if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1; then
    tail -20 "$ROOT.debootstrap.log" >&2
    die "debootstrap failed (log: $ROOT.debootstrap.log; network? the mirror is $MIRROR)"
  fi
  rm -f "$ROOT.debootstrap.log"
  touch "$ROOT/.kiln-base"
  made_root=yes
fi
# The root shares this host's network and host name: its name resolution too (Gloo's ranks look up the host name).
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/hosts "$ROOT/etc/hosts"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"  # no daemons started from the root
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount_system
if [ "$(cat "$ROOT/.kiln-packages" 2>/dev/null)" != "${PACKAGES[*]}" ]; then
  log "installing ${#PACKAGES[@]} packages into the root (apt-get, --no-install-recommends)"
  if ! in_root "apt-get update -q && apt-get install -y -q --no-install-recommends ${PACKAGES[*]}" \
      >"$ROOT/apt.log" 2>&1; then
    tail -30 "$ROOT/apt.log" >&2
    die "apt-get in the root failed (log: $ROOT/apt.log)"
  fi
  echo "${PACKAGES[*]}" >"$ROOT/.kiln-packages"
  made_root=yes
fi
mark root

# ---- 2. build
bind_ro "$SRC" "$ROOT/src"
ORT_MODULES=$(readlink -f "$SRC/.deps/node_modules" 2>/dev/null || true)
labels=$UNIT_LABELS
if [ -n "$ORT_MODULES" ] && [ -f "$ORT_MODULES/onnxruntime-node/package.json" ]; then
  bind_ro "$ORT_MODULES" "$ROOT/opt/kiln-ort/.deps/node_modules"
  ln -sfn /src/tools "$ROOT/opt/kiln-ort/tools"
  ort=yes
else
  labels=${labels/|export/}
  ort=no
  log "no onnxruntime-node in $SRC/.deps (./setup.sh installs it): the export tests are left out"
fi

# A clean build every time, so that every warning is seen; ccache (in the root) replays the unchanged files, with
# their warnings, so a second run mostly links.
log "building in $ROOT/build (log: $ROOT/build/build.log)"
rm -rf "$ROOT/build"
mkdir -p "$ROOT/build"
build_ok=yes
in_root "ccache --zero-stats >/dev/null; cmake -S /src -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release &&
         cmake --build /build -- -k 0 -j$(nproc)" >"$ROOT/build/build.log" 2>&1 || build_ok=no
mark built
cache=$(in_root 'ccache --print-stats' |
  awk '$1 ~ /_cache_hit$/ { hit += $2 } $1 == "cache_miss" { miss = $2 } END { printf "ccache %d hits, %d compiled", hit, miss }')
# Warnings in kiln's own code: the diagnostics GCC reports against a file under /src.
warnings=$(grep -E '^/src/[^:]+:[0-9]+:[0-9]+: warning:' "$ROOT/build/build.log" | sort -u || true)
nwarn=$(printf '%s' "$warnings" | grep -c . || true)

# ---- 3. unit tests
test_ok=skipped
if [ $build_ok = yes ]; then
  log "running the unit tests (ctest -L '$labels'; log: $ROOT/build/unit_tests.log)"
  test_ok=yes
  in_root "export KILN_ORT_DIR=/opt/kiln-ort; cd /build && ctest -L '$labels' --output-on-failure -j$(nproc)" \
    >"$ROOT/build/unit_tests.log" 2>&1 || test_ok=no
  mark tested
fi

# ---- 4. summary
header=$(find "$ROOT/usr/include" -path '*/torch/csrc/api/include/torch/version.h' | head -1)
torch_version=$(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$header" | paste -sd.)
echo
echo "== kiln against LibTorch $torch_version (Debian $(cat "$ROOT/etc/debian_version"), $ROOT)"
echo "LibTorch   $torch_version (TORCH_VERSION in ${header#"$ROOT"})"
echo "compiler   $(in_root 'g++ --version' | head -1)"
echo "cmake      $(in_root 'cmake --version' | head -1)"
if [ $made_root = yes ]; then
  echo "root       made or updated in $(took start root)"
else
  echo "root       already there"
fi
echo "build      $([ $build_ok = yes ] && echo ok || echo FAILED) in $(took root built), $cache; $nwarn warning(s) in kiln's own code"
[ -z "$warnings" ] || printf '%s\n' "$warnings" | sed 's/^/  /'
if [ $build_ok = no ]; then
  grep -E 'error|FAILED' "$ROOT/build/build.log" | head -40 | sed 's/^/  /'
  echo "(full log: $ROOT/build/build.log)"
  exit 1
fi
summary=$(grep -E '^[0-9]+% tests passed' "$ROOT/build/unit_tests.log" || echo "no ctest summary")
skipped=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$ROOT/build/unit_tests.log" || true)
echo "tests      $summary, $skipped skipped, in $(took built tested) (ctest -L '$labels')"
[ $ort = yes ] || echo "           export tests NOT run: no onnxruntime-node in .deps"
if [ $test_ok = no ]; then
  sed -n '/^The following tests FAILED:/,$p' "$ROOT/build/unit_tests.log" | sed 's/^/  /'
  echo "(full log: $ROOT/build/unit_tests.log)"
  exit 1
fi
sed -n '/^The following tests did not run:/,/^$/p' "$ROOT/build/unit_tests.log" | sed 's/^/  /'
exit 0
