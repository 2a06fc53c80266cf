#!/usr/bin/env bash
# Faults across hosts (docs/benchmarks.md "Faults across hosts"): a 2-rank LeNet5 job over two network-namespace
# hosts (tools/netns_cluster.sh, launcher on the first), and one fault on the second host at a random moment of
# training, RUNS times each:
#   kill   its rank gets SIGKILL              stop   its rank gets SIGSTOP (hung, not dead)
#   link   its eth0 goes down mid-step        host   every process on it is SIGKILLed at once (a host lost)
# Each run records the kiln's exit code, the seconds from the fault until no process of the job is left on either
# host (`ip netns pids`), whether the log names the failed rank, its host and step in one line, and whether the last
# checkpoint loads (kiln evaluates it). Prints a CSV line per run and a summary per fault.
#   bench/netns_faults.sh KILN OUT_DIR [RUNS] [FAULTS]     RUNS: 20; FAULTS: "kill stop link host"
# Needs root; exits 77 where namespaces cannot be made.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
KILN=$(realpath "$1")
OUT=$2
RUNS=${3:-20}
FAULTS=${4:-"kill stop link host"}
SPEC=$SRC/specs/samples/classification_lenet5_fmnist.yaml
P=kf$$-
source "$SRC/bench/netns_pair.sh"
pair_up
pair_yaml "$OUT/cluster.yaml" faults

pids_on() { ip netns pids "$1" 2>/dev/null || true; }
job_pids() { { pids_on "$H1"; pids_on "$H2"; } | sort -n; }
now() { date +%s.%N; }
# The rank on the second host: the kiln process whose network namespace is H2's.
rank_on_h2() {
  local p
  for p in $(pids_on "$H2"); do
    if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "kiln classification train"; then echo "$p"; return; fi
  done
}

fault() {
  case $1 in
    kill) kill -KILL "$(rank_on_h2)" ;;
    stop) kill -STOP "$(rank_on_h2)" ;;
    link) ip netns exec "$H2" ip link set eth0 down ;;
    host) kill -KILL $(pids_on "$H2") ;;
  esac
}

# After the run: what the fault left (a stopped rank is killed, the link comes back up) for the next run.
repair() {
  local p
  for p in $(job_pids); do kill -KILL "$p" 2>/dev/null || true; done
  ip netns exec "$H2" ip link set eth0 up
}

echo "fault,run,exit,seconds_to_all_gone,named_rank_host_step,checkpoint_loads"
for f in $FAULTS; do
  for run in $(seq "$RUNS"); do
    dir=$OUT/$f-$run
    rm -rf "$dir"
    "$NC" exec "$H1" "$KILN" classification train -e "$SPEC" -r "$dir" -c "$OUT/cluster.yaml" \
      train_config.n_epochs=50 train_config.batch_size_per_gpu=16 train_config.checkpoint_interval_steps=40 \
      dataset_config.train.max_samples=8000 dataset_config.val.max_samples=200 >"$dir.log" 2>&1 &
    job=$!
    until [ -e "$dir/checkpoints/latest" ]; do
      kill -0 "$job" 2>/dev/null || { tail -n 20 "$dir.log" >&2; echo "netns_faults: the job ended before its first checkpoint" >&2; exit 1; }
      sleep 0.1
    done
    sleep "0.$((RANDOM % 10))"
    fault "$f"
    t0=$(now)
    gone=""
    while [ -z "$gone" ]; do
      [ -n "$(job_pids)" ] || gone=$(now)
      sleep 0.05
      # A job that outlives the fault by a minute is hung: record it, then end it.
      if [ -z "$gone" ] && [ "$(echo "$(now) - $t0 > 60" | bc)" = 1 ]; then gone=never; repair; fi
    done
    code=0
    wait "$job" || code=$?
    secs=$([ "$gone" = never ] && echo never || printf '%.2f' "$(echo "$gone - $t0" | bc)")
    named=no
    grep -Eq "ERROR rank 1 \(host $H2\) [a-z ()]+(at step|heartbeats at step) [0-9]+" "$dir.log" && named=yes
    ckpt=$dir/checkpoints/$(cat "$dir/checkpoints/latest" 2>/dev/null | tr -d '\n')
    loads=no
    "$KILN" classification evaluate -e "$SPEC" -m "$ckpt" -r "$dir/eval" dataset_config.val.max_samples=100 \
      >"$dir.eval.log" 2>&1 && loads=yes
    echo "$f,$run,$code,$secs,$named,$loads"
    repair
  done
done
