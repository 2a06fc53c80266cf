#!/usr/bin/env bash
# Data-parallel training throughput on this host, measured side by side in one run, same global batch (64):
#   kiln, 2 ranks x batch 32 (kiln --num_processes 2: mpirun, 1 thread per rank, overlapped bucketed all-reduce)
#   PyTorch DDP, 2 ranks x 1 thread (bench/reference/run_ddp_baseline.sh 2, gloo)
#   PyTorch, 1 process x 2 threads (bench/reference/py_baseline.py)
# Each is run ROUNDS times, interleaved; the best images/s of each is kept. Also prints kiln's time from the
# command to the first training step.   bench/run_bench_distributed.sh [ROUNDS]   (needs ./setup.sh first)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ref=${KILN_REFERENCE_DIR:-$root/bench/reference}
kiln=$root/build/kiln
rounds=${1:-2}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# name | kiln overrides | reference args | training images (0 = all 60,000)
cases=(
  "lenet5|model_config.arch=lenet5|--arch lenet5|0"
  "resnet18|model_config.arch=resnet model_config.n_layers=18 model_config.use_batch_norm=true|--arch resnet18|3200"
)
json() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_s"])'; }

kiln_run() {  # $1 overrides, $2 limit; prints images/s and leaves the log
  local out=$work/k$RANDOM
  "$kiln" classification train -e "$root/bench/specs/bench_classification.yaml" -r "$out" --num_processes 2 \
    train_config.batch_size_per_gpu=32 $1 dataset_config.train.max_samples="$2" >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
  tail -n 1 "$out/training_history.csv" | cut -d, -f8
}
ddp_run() { bash "$ref/run_ddp_baseline.sh" 2 $1 --global-batch 64 --limit "$2" | json; }
py_run() { /usr/bin/python3 "$ref/py_baseline.py" $1 --batch 64 --threads 2 --limit "$2" | json; }
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
ratio() { /usr/bin/python3 -c "print(f'{$1/$2:.2f}')"; }

echo "| model | images | PyTorch 1x2 threads | PyTorch DDP 2x1 | kiln 2x1 | kiln / best PyTorch |"
echo "|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  IFS='|' read -r name over refargs limit <<<"$c"
  ks=(); ds=(); ps=()
  for ((i = 0; i < rounds; i++)); do
    ps+=("$(py_run "$refargs" "$limit")")
    ds+=("$(ddp_run "$refargs" "$limit")")
    ks+=("$(kiln_run "$over" "$limit")")
  done
  k=$(best "${ks[@]}"); d=$(best "${ds[@]}"); p=$(best "${ps[@]}")
  top=$(best "$d" "$p")
  echo "{\"bench\": \"train_2ranks\", \"model\": \"$name\", \"py\": [${ps[*]// /, }], \"ddp\": [${ds[*]// /, }], \"kiln\": [${ks[*]// /, }]}" >&2
  printf '| %s | %s | %.0f | %.0f | %.0f | %s× |\n' "$name" "${limit/#0/60000}" "$p" "$d" "$k" "$(ratio "$k" "$top")"
done

# Time from the command to the first training step (LeNet5, 2 ranks): wall clock until the log line appears.
start=$(date +%s.%N)
"$kiln" classification train -e "$root/bench/specs/bench_classification.yaml" -r "$work/first" --num_processes 2 \
  dataset_config.train.max_samples=6400 2>&1 | while IFS= read -r line; do
  if [[ $line == *"First training step done"* ]]; then
    echo "time to first training step (kiln --num_processes 2, LeNet5): $(/usr/bin/python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')") s"
  fi
done
