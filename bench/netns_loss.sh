#!/usr/bin/env bash
# Packet loss on one link must not abort a healthy job (docs/benchmarks.md "Faults across hosts"): a 2-rank LeNet5
# job over two hosts of tools/netns_cluster.sh (one rank each, the launcher on the first), RUNS times with no loss
# and RUNS times with LOSS% of the packets the second host sends and receives dropped at random
# (`netns_cluster.sh loss`, nftables). Prints each run's exit code and wall time, then per setting: completed runs,
# false alarms (a job ended by the failure detector), the median wall time, and the slowdown.
#   bench/netns_loss.sh KILN OUT_DIR [RUNS] [LOSS] [BACKEND]    RUNS 20, LOSS 2, BACKEND mpi (or gloo)
# Needs root and nftables; exits 77 where namespaces cannot be made.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
KILN=$(realpath "$1")
OUT=$(realpath -m "$2")
RUNS=${3:-20}
LOSS=${4:-2}
BACKEND=${5:-mpi}
P=kn$$-
source "$SRC/tests/support/outer_job_env.sh"
source "$SRC/bench/netns_pair.sh"
pair_up
pair_yaml "$OUT/cluster.yaml" loss "KILN_CPU_BACKEND: $BACKEND" "--bind-to, none"
JOB=(classification train -e "$SRC/specs/samples/classification_lenet5_fmnist.yaml" -c "$OUT/cluster.yaml"
  --num_threads 1 train_config.n_epochs=1 dataset_config.train.max_samples=12000 dataset_config.val.max_samples=1000)

declare -A done_ok alarms times
run() {  # run SETTING I: one job; records its exit code and wall time
  local dir=$OUT/$1_$2 start code=0 secs
  rm -rf "$dir"
  start=$(date +%s.%N)
  "$NC" exec "$H1" "$(printf '%q ' "$KILN" "${JOB[@]}" -r "$dir")" >"$dir.log" 2>&1 || code=$?
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  echo "$1,$2,$code,$secs"
  [ "$code" != 0 ] || done_ok[$1]=$((${done_ok[$1]:-0} + 1))
  ! grep -q "stopped sending heartbeats\|silent for" "$dir.log" || alarms[$1]=$((${alarms[$1]:-0} + 1))
  times[$1]="${times[$1]:-} $secs"
}
median() { printf '%s\n' $1 | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "setting,run,exit,seconds"
for i in $(seq "$RUNS"); do  # interleaved, so that drift in the machine's speed hits both alike
  "$NC" loss "$H2" 0 2>/dev/null
  run none "$i"
  "$NC" loss "$H2" "$LOSS" 2>/dev/null
  run "loss$LOSS" "$i"
done
m0=$(median "${times[none]}")
m1=$(median "${times[loss$LOSS]}")
echo "backend $BACKEND: no loss: ${done_ok[none]:-0}/$RUNS completed, ${alarms[none]:-0} false alarm(s), median ${m0} s;" \
  "${LOSS}% loss on host 2's link: ${done_ok[loss$LOSS]:-0}/$RUNS completed, ${alarms[loss$LOSS]:-0} false alarm(s)," \
  "median ${m1} s ($(echo "scale=2; $m1 / $m0" | bc)x)"
