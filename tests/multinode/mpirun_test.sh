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

expect_crossed "$h1" "$sent1" "$h2" "$sent2"
expect_same_weights "$WORK/one/model.kiln" "$WORK/two/model.kiln" "2 hosts x 32"
echo "PASS: kiln trains across 2 hosts with mpirun"
