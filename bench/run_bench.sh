#!/usr/bin/env bash
# Single-process training throughput, kiln vs the PyTorch reference (bench/reference/py_baseline.py), measured side
# by side in one run: same model, batch 64, threads, data and optimizer. Each is run ROUNDS times, interleaved,
# and the best images/s of each is kept (the machine is noisy). Prints JSON lines and a Markdown table.
#   bench/run_bench.sh [ROUNDS]      (default 2; needs ./setup.sh first)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ref=${KILN_REFERENCE_DIR:-$root/bench/reference}
kiln=$root/build/kiln
rounds=${1:-2}
threads=${THREADS:-$(nproc)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# name | kiln overrides | py_baseline args | training images
cases=(
  "lenet5|model_config.arch=lenet5|--arch lenet5|0"
  "resnet18|model_config.arch=resnet model_config.n_layers=18 model_config.use_batch_norm=true|--arch resnet18|3200"
)

kiln_ips() {  # images/s of kiln's training loop (training_history.csv, excludes start-up)
  local out=$work/k$RANDOM
  "$kiln" classification train -e "$root/bench/specs/bench_classification.yaml" -r "$out" --num_threads "$threads" \
    $1 dataset_config.train.max_samples="$2" >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
  tail -n 1 "$out/training_history.csv" | cut -d, -f8
}
py_ips() {
  /usr/bin/python3 "$ref/py_baseline.py" $1 --batch 64 --threads "$threads" --limit "$2" |
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["images_per_s"])'
}
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }

echo "| model | images | threads | PyTorch img/s | kiln img/s | kiln / PyTorch |"
echo "|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  IFS='|' read -r name over pyargs limit <<<"$c"
  ks=(); ps=()
  for ((i = 0; i < rounds; i++)); do
    ps+=("$(py_ips "$pyargs" "$limit")")
    ks+=("$(kiln_ips "$over" "$limit")")
  done
  k=$(best "${ks[@]}"); p=$(best "${ps[@]}")
  ratio=$(/usr/bin/python3 -c "print(f'{$k/$p:.2f}')")
  echo "{\"bench\": \"train\", \"model\": \"$name\", \"pytorch_runs\": [${ps[*]// /, }], \"kiln_runs\": [${ks[*]// /, }]}" >&2
  printf '| %s | %s | %s | %.0f | %.0f | %s× |\n' "$name" "${limit/#0/60000}" "$threads" "$p" "$k" "$ratio"
done
