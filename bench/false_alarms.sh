#!/usr/bin/env bash
# False alarms of the failure detector under load (docs/benchmarks.md "Faults across hosts"): RUNS healthy 2-rank
# LeNet5 jobs (kiln's launcher, this host), each niced beside HOGS busy loops at normal priority, so the ranks and
# the launcher's control plane get a fraction of the CPU. A healthy job must complete; a job ended by "stopped sending
# heartbeats" is a false alarm. Then the same load with rank 1 SIGSTOPped mid-training: the time to the job's end.
#   bench/false_alarms.sh [BUILD_DIR] [RUNS] [HOGS]      RUNS: 20, HOGS: 4
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
RUNS=${2:-20}
HOGS=${3:-4}
KILN=$(realpath "$BUILD/kiln")
OUT=$(mktemp -d /tmp/kiln_false_alarms.XXXXXX)
hogs=()
cleanup() {
  [ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for _ in $(seq "$HOGS"); do
  (while :; do :; done) &
  hogs+=($!)
done
JOB=(classification train -e specs/samples/classification_lenet5_fmnist.yaml --num_processes 2
  train_config.n_epochs=2 dataset_config.train.max_samples=6000 dataset_config.val.max_samples=500)

alarms=0 completed=0 other=0 secs=()
for run in $(seq "$RUNS"); do
  start=$(date +%s.%N)
  code=0
  nice -n 10 "$KILN" "${JOB[@]}" -r "$OUT/ok$run" >"$OUT/ok$run.log" 2>&1 || code=$?
  secs+=("$(echo "$(date +%s.%N) - $start" | bc)")
  if [ "$code" = 0 ]; then
    completed=$((completed + 1))
  elif grep -q "stopped sending heartbeats" "$OUT/ok$run.log"; then
    alarms=$((alarms + 1))
    grep -m1 "stopped sending heartbeats" "$OUT/ok$run.log"
  else
    other=$((other + 1))
    tail -n 5 "$OUT/ok$run.log"
  fi
done
echo "healthy jobs beside $HOGS busy loops (niced): $completed of $RUNS completed, $alarms false alarm(s), $other other failure(s);" \
  "wall time $(printf '%s\n' "${secs[@]}" | sort -n | head -1)-$(printf '%s\n' "${secs[@]}" | sort -n | tail -1) s"

# A real hang under the same load: SIGSTOP rank 1 once training runs; seconds until the launcher has exited.
detect=()
for run in $(seq 5); do
  nice -n 10 "$KILN" "${JOB[@]}" -r "$OUT/hang$run" train_config.n_epochs=20 >"$OUT/hang$run.log" 2>&1 &
  launcher=$!
  until grep -q "First training step done" "$OUT/hang$run.log"; do sleep 0.1; done
  sleep 1
  victim=""
  for p in /proc/[0-9]*; do
    tr '\0' '\n' <"$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 &&
      tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "$OUT/hang$run" && victim=$(basename "$p") && break
  done 2>/dev/null  # processes that ended while we looked
  t0=$(date +%s.%N)
  kill -STOP "$victim"
  wait "$launcher" || true
  detect+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  kill -KILL "$victim" 2>/dev/null || true
done
echo "a rank SIGSTOPped under the same load: the job ended after $(printf '%.2f ' "${detect[@]}")s"
