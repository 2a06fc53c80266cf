#!/usr/bin/env bash
# channels_last against contiguous (NCHW), kiln against kiln in one run: for LeNet5, ResNet-18 and the ResNet sample
# spec, float32 and --use_amp, each pair run back to back, ROUNDS times (docs/mixed_precision.md, "Memory format").
# Prints one line per pair: images/s of the epoch (training_history.csv) with memory_format contiguous, then
# channels_last.
#   bench/memory_format_bench.sh [ROUNDS]     (default 2; needs ./setup.sh first; about 5 minutes a round on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
kiln=$root/build/kiln
rounds=${1:-2}
threads=${THREADS:-$(nproc)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

ips() {  # SPEC OVERRIDES... → images/s of kiln's (single) epoch
  local out=$work/k$RANDOM
  "$kiln" classification train -e "$root/$1" -r "$out" --num_threads "$threads" "${@:2}" >"$out.log" 2>&1 ||
    { cat "$out.log" >&2; exit 1; }
  tail -n 1 "$out/training_history.csv" | cut -d, -f8
}

# name | spec | overrides
cases=(
  "lenet5|bench/specs/bench_classification.yaml|model_config.arch=lenet5 dataset_config.train.max_samples=30000"
  "resnet18|bench/specs/bench_classification.yaml|model_config.arch=resnet model_config.n_layers=18 model_config.use_batch_norm=true dataset_config.train.max_samples=1920"
  "resnet_sample|specs/samples/classification_resnet_fmnist.yaml|train_config.n_epochs=1 dataset_config.train.max_samples=12800 eval_config.validation_period_during_training=0"
)
for ((r = 1; r <= rounds; r++)); do
  for c in "${cases[@]}"; do
    IFS='|' read -r name spec over <<<"$c"
    for amp in "" --use_amp; do
      # shellcheck disable=SC2086
      a=$(ips "$spec" $over $amp train_config.memory_format=contiguous)
      # shellcheck disable=SC2086
      b=$(ips "$spec" $over $amp train_config.memory_format=channels_last)
      echo "round $r: $name ${amp:-float32}: contiguous $a img/s, channels_last $b img/s"
    done
  done
done
