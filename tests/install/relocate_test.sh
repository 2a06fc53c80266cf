#!/usr/bin/env bash
# `cmake --install` gives a kiln that can be moved: install into one prefix, move the whole tree elsewhere, and the
# moved kiln runs and finds its ONNX check (tools/ort_run.js and onnxruntime-node) in its own share/kiln, not in the
# source tree it was built from.
#   relocate_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 source=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/first" >/dev/null
mv "$work/first" "$work/moved"
kiln=$work/moved/bin/kiln
[ -x "$kiln" ] || { echo "no executable at $kiln"; exit 1; }
for f in share/kiln/tools/ort_run.js share/kiln/specs/samples/classification_lenet5_fmnist.yaml share/doc/kiln/README.md; do
  [ -e "$work/moved/$f" ] || { echo "not installed: $f"; exit 1; }
done
out=$(env -u KILN_ORT_DIR "$kiln" info --verbose)
echo "$out" | grep "^ONNX check:"
if [ -d "$source/.deps/node_modules/onnxruntime-node" ]; then
  echo "$out" | grep -q "^ONNX check: onnxruntime .* from $work/moved/share/kiln\$" ||
    { echo "the moved kiln does not find onnxruntime in its own share/kiln"; exit 1; }
else
  echo "onnxruntime-node is not in $source/.deps (./setup.sh installs it): only the moved executable was checked"
fi
echo "relocated kiln OK"
