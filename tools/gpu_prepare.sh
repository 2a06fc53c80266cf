#!/usr/bin/env bash
# Fills the folder that travels with the working tree to a GPU machine for tools/gpu_check.sh (docs/gpu_check.md):
# everything kiln's lean build and the check's runs need that such a machine may lack. Run it here (Debian 12, root,
# with http://deb.debian.org reachable); the GPU machine has no package registry and no internet.
#
#   tools/gpu_prepare.sh [CARRY_DIR]      CARRY_DIR: default .gpu_carry in the source tree (gitignored); it is
#                                         replaced as a whole
#
# What goes in (each from Debian 12's archive, never from this host's installed files):
#   deps/      header-only libraries unpacked from their .debs (apt-get download + dpkg-deb -x), with their CMake
#              package files: nlohmann-json3-dev, libcli11-dev, the four stb headers kiln includes (libstb-dev), and
#              of libboost1.74-dev only what Boost.Asio needs: the headers that kiln's Asio sources include,
#              transitively (g++ -M over cluster/src), plus all of boost/asio and boost/config (the headers other
#              compilers and platforms select), and Boost's CMake package (lib/x86_64-linux-gnu/cmake).
#   src/       Debian's sources of the compiled libraries, built on the GPU machine by gpu_check.sh: yaml-cpp 0.7,
#              googletest 1.12 (gtest only; googlemock and docs removed) and zlib 1.2.13 (`apt-get source`
#              through a private sources list with a deb-src line in a temporary directory: the system's apt
#              configuration is not changed).
#   data/      the check's data: Fashion-MNIST's first 30000 training images and the 10000 test images, as IDX gz
#              files (from /usr/share/datasets/fashion-mnist, package dataset-fashion-mnist).
#   MANIFEST   what came from which package version, and the sizes.
# Prints the folder's size and fails when it is 40 MiB or more (the device tool carries 64 MiB in all).
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd -P)
CARRY=${1:-$SRC/.gpu_carry}
[ $# -le 1 ] || { echo "usage: $0 [CARRY_DIR]" >&2; exit 2; }
TRAIN_IMAGES=30000           # of Fashion-MNIST's 60000: what the check trains on (the test set is whole)
LIMIT_MIB=40
FMNIST=/usr/share/datasets/fashion-mnist
DEBS=(libboost1.74-dev nlohmann-json3-dev libcli11-dev libstb-dev)
SOURCES=(yaml-cpp googletest zlib)

log() { echo "gpu_prepare: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in apt-get dpkg-deb dpkg-source g++ /usr/bin/python3; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
[ -f "$FMNIST/train-images-idx3-ubyte.gz" ] || die "no Fashion-MNIST in $FMNIST (apt-get install dataset-fashion-mnist)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$CARRY"
mkdir -p "$CARRY"/deps/include "$CARRY"/src "$CARRY"/data/fashion-mnist
DEPS=$CARRY/deps

# --- header-only packages, unpacked from their .debs -----------------------------------------------------------
log "downloading ${DEBS[*]}"
(cd "$WORK" && apt-get download -q -o APT::Sandbox::User=root "${DEBS[@]}" >/dev/null)
mkdir -p "$WORK/x"
for pkg in "${DEBS[@]}"; do
  dpkg-deb -x "$WORK"/"${pkg}"_*.deb "$WORK/x/$pkg"
done
X=$WORK/x
cp -a "$X"/nlohmann-json3-dev/usr/include/nlohmann "$DEPS"/include/
cp -a "$X"/libcli11-dev/usr/include/CLI "$DEPS"/include/
mkdir -p "$DEPS"/share/cmake "$DEPS"/include/stb
cp -a "$X"/nlohmann-json3-dev/usr/share/cmake/nlohmann_json "$X"/libcli11-dev/usr/share/cmake/CLI11 "$DEPS"/share/cmake/
for h in stb_image.h stb_image_write.h stb_image_resize.h stb_easy_font.h; do  # the ones kiln includes
  cp "$X"/libstb-dev/usr/include/stb/$h "$DEPS"/include/stb/
done

# Boost: the closure of what kiln's Asio sources include, found by the preprocessor against the unpacked tree.
BOOST=$X/libboost1.74-dev/usr/include
mapfile -t asio_users < <(grep -l 'boost' "$SRC"/cluster/src/*.cpp)
[ ${#asio_users[@]} -gt 0 ] || die "found no source of kiln's that includes Boost (cluster/src)"
for f in "${asio_users[@]}"; do
  g++ -std=c++17 -M -I"$BOOST" -I"$SRC"/cluster/include -I"$SRC"/cluster/src -I"$SRC"/common/include \
    -I"$SRC"/specs/include "$f"
done | tr ' \\' '\n\n' | grep "^$BOOST/boost/" | sort -u >"$WORK/boost_closure"
(cd "$BOOST" && { sed "s|^$BOOST/||" "$WORK/boost_closure"; find boost/asio boost/config -type f; } | sort -u |
   xargs cp --parents -t "$DEPS"/include)
log "Boost: $(wc -l <"$WORK/boost_closure") headers in the closure of ${#asio_users[@]} sources, $(find "$DEPS"/include/boost -type f | wc -l) carried"
mkdir -p "$DEPS"/lib/x86_64-linux-gnu/cmake
cp -a "$X"/libboost1.74-dev/usr/lib/x86_64-linux-gnu/cmake/{Boost-1.74.0,boost_headers-1.74.0,BoostDetectToolset-1.74.0.cmake} \
  "$DEPS"/lib/x86_64-linux-gnu/cmake/

# --- sources of the compiled libraries: apt-get source through a private sources list ----------------------------
APT=$WORK/apt
mkdir -p "$APT"/lists/partial "$APT"/cache/archives/partial
echo "deb-src http://deb.debian.org/debian bookworm main" >"$APT"/sources.list
apt_private=(-q -o Dir::Etc::SourceList="$APT"/sources.list -o Dir::Etc::SourceParts=/nonexistent
             -o Dir::State::Lists="$APT"/lists -o Dir::Cache="$APT"/cache -o APT::Sandbox::User=root)
log "apt-get source ${SOURCES[*]} (private deb-src list in $APT)"
apt-get "${apt_private[@]}" update >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update failed"; }
(cd "$WORK" && apt-get "${apt_private[@]}" source --download-only "${SOURCES[@]}" >>"$WORK/apt.log" 2>&1) ||
  { cat "$WORK/apt.log" >&2; die "apt-get source failed"; }
for pkg in "${SOURCES[@]}"; do
  dsc=$(ls "$WORK"/"${pkg}"_*.dsc)
  (cd "$WORK" && dpkg-source --no-check -x "$dsc" "$CARRY/src/$pkg" >/dev/null)  # Debian's patches applied
  echo "$pkg $(basename "$dsc" .dsc | sed "s/^${pkg}_//") (Debian source, patches applied)" >>"$WORK/manifest"
done
# What the build does not use: packaging, documentation, gmock, upstream test suites, zlib's contrib.
rm -rf "$CARRY"/src/*.orig.tar.* "$CARRY"/src/*/debian "$CARRY"/src/*/.pc "$CARRY"/src/googletest/{googlemock,docs,ci} \
  "$CARRY"/src/googletest/googletest/{test,docs,samples} "$CARRY"/src/yaml-cpp/{test,docs} \
  "$CARRY"/src/zlib/{contrib,doc,examples}
for pkg in "${DEBS[@]}"; do
  echo "$pkg $(dpkg-deb -f "$WORK"/"${pkg}"_*.deb Version) (.deb, unpacked)" >>"$WORK/manifest"
done

# --- data: a Fashion-MNIST subset as IDX gz ----------------------------------------------------------------------
/usr/bin/python3 - "$FMNIST" "$CARRY/data/fashion-mnist" "$TRAIN_IMAGES" <<'EOF'
import gzip, struct, sys
src, dst, n_train = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, keep in [("train-images-idx3-ubyte", n_train), ("train-labels-idx1-ubyte", n_train),
                   ("t10k-images-idx3-ubyte", 0), ("t10k-labels-idx1-ubyte", 0)]:
    data = gzip.open(f"{src}/{name}.gz").read()
    ndim = data[3]
    dims = list(struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim]))
    if keep:
        per = 1
        for d in dims[1:]: per *= d
        body = data[4 + 4 * ndim:4 + 4 * ndim + keep * per]
        dims[0] = keep
    else:
        body = data[4 + 4 * ndim:]
    with gzip.open(f"{dst}/{name}.gz", "wb", compresslevel=9) as f:
        f.write(data[:4] + struct.pack(f">{ndim}I", *dims) + body)
EOF
echo "Fashion-MNIST: first $TRAIN_IMAGES training images and all 10000 test images ($FMNIST)" >>"$WORK/manifest"

{
  echo "# Made by tools/gpu_prepare.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); used by tools/gpu_check.sh"
  cat "$WORK/manifest"
  echo
  du -sk "$CARRY"/deps "$CARRY"/src/* "$CARRY"/data | awk '{ printf "%8.1f MiB  %s\n", $1 / 1024, $2 }'
} >"$CARRY/MANIFEST"
total_kib=$(du -sk "$CARRY" | cut -f1)
cat "$CARRY/MANIFEST"
printf 'gpu_prepare: %s: %.1f MiB (limit %d MiB)\n' "$CARRY" "$(echo "$total_kib / 1024" | bc -l)" "$LIMIT_MIB"
[ "$total_kib" -lt $((LIMIT_MIB * 1024)) ] || die "the carried folder is over $LIMIT_MIB MiB"
