#!/usr/bin/env bash
# torchrun across hosts, no MPI: on each of 2 hosts (network namespaces with their own hostnames) torchrun's real
# agent starts one kiln rank (`--nnodes 2 --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint HOST1:PORT`). The
# ranks find rank 0's control plane through torchrun's store and train over Gloo on eth0 (GLOO_SOCKET_IFNAME). In
# deterministic mode the weights equal a single-process run at the same global batch within the tolerance of the
# N-vs-1 test, and the gradients' all-reduce crossed the hosts' veths, counted in bytes.
source "$(dirname "$0")/common.sh"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch.distributed.run' 2>/dev/null ||
  skip "torchrun (python3-torch) not installed"

cluster_up 2
h1=${HOSTS[0]} h2=${HOSTS[1]}
BENCH=$SRC/bench/specs/bench_classification.yaml
COMMON=(classification train -e "$BENCH" --enable_determinism --num_threads 1 train_config.n_epochs=1
  dataset_config.train.max_samples=3200)
"$KILN" "${COMMON[@]}" -r "$WORK/one" train_config.batch_size_per_gpu=64 >"$WORK/one.log" 2>&1 ||
  { tail -n 30 "$WORK/one.log" >&2; fail "the single-process run failed"; }

# Each host's torchrun agent, in the background; the rendezvous store is served by the agent on the first host.
agent() {
  on "$1" env GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 "$SRC/tests/support/torchrun_py311.py" --nnodes 2 \
    --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint "$h1:29400" --rdzv_id kiln-multinode --no_python \
    "$KILN" "${COMMON[@]}" -r "$WORK/two" train_config.batch_size_per_gpu=32 >"$WORK/$1.log" 2>&1
}
tx1=$(tx_bytes "$h1") tx2=$(tx_bytes "$h2")
echo "+ on $h1 and $h2: torchrun --nnodes 2 --nproc_per_node 1 --rdzv_backend c10d --rdzv_endpoint $h1:29400 kiln …"
agent "$h1" &
a1=$!
agent "$h2" &
a2=$!
rc1=0 rc2=0
wait $a1 || rc1=$?
wait $a2 || rc2=$?
sent1=$(($(tx_bytes "$h1") - tx1)) sent2=$(($(tx_bytes "$h2") - tx2))
cat "$WORK/$h1.log" "$WORK/$h2.log" | grep -E 'Data:|Gradient reduction|Execution status' || true
[ $rc1 = 0 ] && [ $rc2 = 0 ] || { tail -n 30 "$WORK/$h1.log" "$WORK/$h2.log" >&2; fail "torchrun exited $rc1 on $h1, $rc2 on $h2"; }

grep -q "2 rank(s) x batch 32 = global batch 64" "$WORK/$h1.log" "$WORK/$h2.log" || fail "not 2 ranks of batch 32"
grep -q "Gradient reduction: .*, gloo," "$WORK/$h1.log" "$WORK/$h2.log" || fail "the gradients were not reduced with Gloo"
[ "$(cat "$WORK/$h1.log" "$WORK/$h2.log" | grep -c 'Execution status: PASS')" = 1 ] || fail "no single PASS for the job"
expect_crossed "$h1" "$sent1" "$h2" "$sent2"
expect_same_weights "$WORK/one/model.kiln" "$WORK/two/model.kiln" "torchrun, 2 hosts x 32"
echo "PASS: kiln trains across 2 hosts under torchrun, over Gloo, with no MPI"
