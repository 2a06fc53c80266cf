#!/usr/bin/env bash
# Recovery figures (docs/benchmarks.md "Checkpoints and recovery"), on this machine:
#   1. checkpoint stall: how long training pauses per save (the in-memory copy) next to how long the write takes in
#      the background (what a synchronous save would have cost), for LeNet5 and ResNet-18, a checkpoint every 10 steps;
#   2. restarts: kill -9 of rank 1 of a 2-rank LeNet5 job run with --max_restarts, KILLS times at random moments:
#      seconds from the kill to the relaunched job's first training step, and the steps each failure cost.
# Usage: bench/recovery_figures.sh [BUILD_DIR] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
KILLS=${2:-5}
KILN="$BUILD/kiln"
SPEC=bench/specs/bench_classification.yaml
OUT=$(mktemp -d /tmp/kiln_recovery.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else print a[int((NR + 1) / 2)]}'; }

echo "== checkpoint stall per save (1 rank, a checkpoint every 20 steps) =="
printf '%-10s %10s %8s %15s %15s %s\n' model params "file MB" "pause ms (med)" "write ms (med)" "saves that waited"
for model in "lenet5" "resnet 18"; do
  set -- $model
  arch=$1 layers=${2:-18}
  dir="$OUT/stall_$arch$layers"
  "$KILN" classification train -e "$SPEC" -r "$dir" -v model_config.arch="$arch" model_config.n_layers="$layers" \
    dataset_config.train.max_samples=6400 train_config.checkpoint_interval_steps=20 > "$dir.log" 2>&1
  pause=$(grep -o 'training paused [0-9.]* ms' "$dir.log" | awk '{print $3}' | median)
  waited=$(grep -c 'of them waiting' "$dir.log" || true)
  write=$(grep -o 'written in [0-9]* ms in the background' "$dir.log" | awk '{print $3}' | median)
  params=$(grep -o '[0-9]* parameters' "$dir.log" | head -1 | awk '{print $1}')
  size=$(ls -l "$dir"/checkpoints/*_step_*.kiln | head -1 | awk '{printf "%.1f", $5 / 1048576}')
  saves=$(grep -c 'Checkpoint: ' "$dir.log")
  printf '%-10s %10s %8s %15s %15s %s\n' "$arch${2:-}" "$params" "$size" "$pause" "$write" "$waited of $saves"
done

echo "== restarts: kill -9 of rank 1, 2-rank LeNet5, --max_restarts $KILLS =="
dir="$OUT/restart"
log="$OUT/restart.log"
"$KILN" classification train -e specs/samples/classification_lenet5_fmnist.yaml -r "$dir" --num_processes 2 \
  --max_restarts "$KILLS" train_config.n_epochs=40 train_config.checkpoint_interval=1 \
  train_config.checkpoint_interval_steps=50 > "$log" 2>&1 &
launcher=$!
rank1() {
  for p in /proc/[0-9]*; do
    tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 &&
      tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q "$dir" && basename "$p"
  done 2>/dev/null | head -1 || true
}
started() { grep -c 'First training step done' "$log" || true; }
for k in $(seq 1 "$KILLS"); do
  while [ "$(started)" -lt "$k" ]; do sleep 0.05; done
  sleep "$(awk -v r=$RANDOM 'BEGIN {printf "%.2f", 1 + 3 * r / 32768}')"  # 1-4 s into the launch
  victim=$(rank1)
  t0=$(date +%s.%N)
  kill -9 "$victim"
  while [ "$(started)" -lt $((k + 1)) ]; do sleep 0.02; done
  t1=$(date +%s.%N)
  echo "kill $k: training again after $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
done
wait "$launcher" && echo "the job completed (exit 0)" || echo "the job exited $?"
grep -o '"steps_lost":[0-9]*' "$dir/status.json" | sed 's/"steps_lost":/steps lost: /' | tr '\n' ' '
echo
