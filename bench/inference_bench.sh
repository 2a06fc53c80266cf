#!/usr/bin/env bash
# Inference throughput, kiln vs PyTorch (bench/py_inference.py), side by side in one run: the same architecture,
# the 10,000 Fashion-MNIST test images, batch 256, the same threads; each ROUNDS times, interleaved, best kept.
# kiln's figure is the one `classification inference` prints (its loop: IDX decode + normalise, forward, softmax,
# top-5; start-up and the CSV excluded), with the spec schema's default 2 loader threads (the bench training spec
# sets 1). PyTorch's loop normalises already-decoded tensors and gets a warm-up batch.
#   bench/inference_bench.sh [ROUNDS]      (default 2; needs ./setup.sh first)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
kiln=${KILN:-$root/build/kiln}
rounds=${1:-2}; threads=${THREADS:-$(nproc)}; batch=${BATCH:-256}
test_images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# name | kiln model overrides (the weights come from a few training steps; speed does not depend on them)
cases=(
  "lenet5|model_config.arch=lenet5"
  "resnet18|model_config.arch=resnet model_config.n_layers=18 model_config.width=64"
  "mobilenet_v2|model_config.arch=mobilenet_v2"
)
make_model() {  # NAME OVERRIDES -> path of a kiln model with that architecture
  "$kiln" classification train -e "$root/bench/specs/bench_classification.yaml" -r "$work/$1" $2 \
    model_config.use_batch_norm=true dataset_config.train.max_samples=128 >"$work/$1.log" 2>&1 ||
    { cat "$work/$1.log" >&2; exit 1; }
  echo "$work/$1/model.kiln"
}
kiln_ips() {
  "$kiln" classification inference -m "$1" -i "$test_images" -o "$work/out$RANDOM" --batch_size "$batch" \
    --num_threads "$threads" train_config.n_workers=2 2>&1 | sed -n 's/.*| \([0-9.]*\) images\/s.*/\1/p'
}
py_ips() {
  /usr/bin/python3 "$root/bench/py_inference.py" --arch "$1" --batch "$batch" --threads "$threads" |
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["images_per_s"])'
}
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }

echo "| model | images | batch | threads | PyTorch img/s | kiln img/s | kiln / PyTorch |"
echo "|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  IFS='|' read -r name over <<<"$c"
  model=$(make_model "$name" "$over")
  ks=(); ps=()
  for ((i = 0; i < rounds; i++)); do
    ps+=("$(py_ips "$name")")
    ks+=("$(kiln_ips "$model")")
  done
  k=$(best "${ks[@]}"); p=$(best "${ps[@]}")
  [ -n "$k" ] || { echo "kiln printed no images/s for $name" >&2; exit 1; }
  join() { local IFS=,; echo "$*"; }
  echo "{\"bench\": \"inference\", \"model\": \"$name\", \"pytorch_runs\": [$(join "${ps[@]}")], \"kiln_runs\": [$(join "${ks[@]}")]}" >&2
  printf '| %s | 10000 | %s | %s | %.0f | %.0f | %s× |\n' "$name" "$batch" "$threads" "$p" "$k" \
    "$(/usr/bin/python3 -c "print(f'{$k/$p:.2f}')")"
done
