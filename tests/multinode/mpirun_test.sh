#!/usr/bin/env bash
# kiln across hosts with mpirun: 2 hosts (network namespaces with their own hostnames), 1 rank each, the launcher
# on the first. The job completes; in deterministic mode its weights equal a single-process run at the same global
# batch within the tolerance of the N-vs-1 test (tests/e2e/distributed_test.cpp); the ranks' lines carry their
# hosts' names; and the gradients' all-reduce crossed the hosts' veths (network.interface: eth0), counted in bytes.
source "$(dirname "$0")/common.sh"

cluster_up 2
h1=${HOSTS[0]} h2=${HOSTS[1]}
cluster_yaml "$WORK/cluster.yaml" 1 "$h1" "$h2"
# The N-vs-1 configuration: SGD lr 0.01, 3,200 images, global batch 64 = 50 steps.
BENCH=$SRC/bench/specs/bench_classification.yaml
COMMON=(classification train -e "$BENCH" --enable_determinism --num_threads 1 train_config.n_epochs=1
  dataset_config.train.max_samples=3200)

"$KILN" "${COMMON[@]}" -r "$WORK/one" train_config.batch_size_per_gpu=64 >"$WORK/one.log" 2>&1 ||
  { tail -n 30 "$WORK/one.log" >&2; fail "the single-process run failed"; }

tx1=$(tx_bytes "$h1") tx2=$(tx_bytes "$h2")
echo "+ on $h1: kiln ${COMMON[*]} -c cluster.yaml train_config.batch_size_per_gpu=32"
on "$h1" "$KILN" "${COMMON[@]}" -r "$WORK/two" -c "$WORK/cluster.yaml" train_config.batch_size_per_gpu=32 \
  >"$WORK/two.log" 2>&1 || { tail -n 40 "$WORK/two.log" >&2; fail "the 2-host job failed"; }
sent1=$(($(tx_bytes "$h1") - tx1)) sent2=$(($(tx_bytes "$h2") - tx2))
grep -E 'Launching|Data:|Execution status' "$WORK/two.log"

grep -q "mpirun -np 2 --host $h1:1,$h2:1 .*--mca btl_tcp_if_include eth0" "$WORK/two.log" ||
  fail "the mpirun line does not place one rank on each host over eth0"
grep -q "2 rank(s) x batch 32 = global batch 64" "$WORK/two.log" || fail "not 2 ranks of batch 32"
[ "$(grep -c 'Execution status: PASS' "$WORK/two.log")" = 1 ] || fail "no single PASS for the job"
# Rank 0 runs on the first host, and says so on every line of its own.
rank_lines=$(grep -c "^\[$h1:0\] " "$WORK/two.log" || true)
((rank_lines >= 3)) || fail "rank 0's lines do not carry [$h1:0]"
! grep -E '^\[[^]]*:0\] ' "$WORK/two.log" | grep -qv "^\[$h1:0\] " || fail "a rank-0 line names another host"

# 50 steps, each all-reducing LeNet5's 61,706 float32 gradients (247 KB): each host sent at least half of that per
# step (a ring of 2 sends half the buffer each way, twice) across its eth0; the whole job's other traffic is far less.
min=$((50 * 61706 * 4 / 2))
echo "bytes sent over eth0: $h1 $sent1, $h2 $sent2 (the all-reduce alone: >= $min each)"
((sent1 >= min && sent2 >= min)) || fail "the gradients did not cross the hosts' veths"

diff=$(max_weight_diff "$WORK/one/model.kiln" "$WORK/two/model.kiln") || fail "cannot compare the models"
echo "max |w(2 hosts x 32) - w(1 x 64)| = $diff"
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$diff') <= 1e-5 else 1)" ||
  fail "the 2-host weights differ from the single-process run's by $diff (> 1e-5)"
echo "PASS: kiln trains across 2 hosts with mpirun"
