#!/usr/bin/env bash
# kiln under torchrun's real launcher on this host, no MPI anywhere: 2 workers of `torchrun --no_python kiln …`
# train with the Gloo backend, finding rank 0's control plane through torchrun's store. MODE picks torchrun's
# rendezvous: c10d (rank 0's worker serves the store at MASTER_PORT) or static (the default; the agent serves it).
# In deterministic mode the weights equal a single-process run at the same global batch within the tolerance of the
# N-vs-1 test (tests/e2e/distributed_test.cpp). MODE kill: rank 1 is SIGKILLed mid-training, and rank 0 exits 4
# with the control plane's account of it (rank, host, step), not just the error Gloo's socket gave.
# Usage: torchrun_test.sh KILN_BIN SOURCE_DIR WORK_DIR c10d|static|kill
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
[ $# -eq 4 ] || { echo "usage: $0 KILN_BIN SOURCE_DIR WORK_DIR c10d|static|kill" >&2; exit 2; }
KILN=$1 SRC=$2 WORK=$3 MODE=$4
source "$SRC/tests/support/outer_job_env.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
rm -rf "$WORK"
mkdir -p "$WORK"
# Debian 12's torchrun on Python 3.11 needs a one-function fix (tests/support/torchrun_py311.py says which).
TORCHRUN=(/usr/bin/python3 "$SRC/tests/support/torchrun_py311.py")
case $MODE in
  c10d | kill) RDZV=(--rdzv_backend c10d --rdzv_endpoint localhost:0) ;;  # port 0: torchrun picks a free one
  static)
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    RDZV=(--master_addr 127.0.0.1 --master_port "$port") ;;
  *) fail "unknown mode $MODE" ;;
esac

if [ "$MODE" = kill ]; then
  echo "+ torchrun ${RDZV[*]} --nnodes 1 --nproc_per_node 2 --no_python kiln classification train … (3 epochs)"
  "${TORCHRUN[@]}" "${RDZV[@]}" --nnodes 1 --nproc_per_node 2 --no_python "$KILN" classification train \
    -e "$SRC/bench/specs/bench_classification.yaml" --num_threads 1 train_config.n_epochs=3 -r "$WORK/run" \
    >"$WORK/run.log" 2>&1 &
  agent=$!
  for _ in $(seq 600); do grep -q "First training step done" "$WORK/run.log" && break; sleep 0.1; done
  victim=""
  for pid in $(pgrep -P "$agent" -x kiln); do  # torchrun's workers are the agent's children; rank 1 by its RANK
    tr '\0' '\n' <"/proc/$pid/environ" | grep -qx RANK=1 && victim=$pid
  done
  [ -n "$victim" ] || { kill "$agent"; cat "$WORK/run.log" >&2; fail "no rank 1 under torchrun's agent"; }
  kill -9 "$victim"
  rc=0
  wait "$agent" || rc=$?
  grep -E 'ERROR|Execution status|exitcode' "$WORK/run.log" || true
  [ "$rc" != 0 ] || fail "torchrun succeeded after rank 1 was killed"
  grep -Eq "ERROR job aborted: rank 1 \(host $(hostname)\) exited \(connection closed\) at step [0-9]+$" \
    "$WORK/run.log" || fail "rank 0 did not report the control plane's account of rank 1's death"
  grep -q "failed (exitcode: 4) local_rank: 0" "$WORK/run.log" || fail "rank 0 did not exit with code 4"
  [ "$(grep -c 'Execution status: FAIL' "$WORK/run.log")" = 1 ] || fail "not one FAIL for the job"
  echo "PASS: under torchrun, a killed rank ends the job with exit 4, named"
  exit 0
fi

# The N-vs-1 configuration: SGD lr 0.01, 3,200 images, global batch 64 = 50 steps.
COMMON=(classification train -e "$SRC/bench/specs/bench_classification.yaml" --enable_determinism --num_threads 1
  train_config.n_epochs=1 dataset_config.train.max_samples=3200)
"$KILN" "${COMMON[@]}" -r "$WORK/one" train_config.batch_size_per_gpu=64 >"$WORK/one.log" 2>&1 ||
  { tail -n 30 "$WORK/one.log" >&2; fail "the single-process run failed"; }

echo "+ torchrun ${RDZV[*]} --nnodes 1 --nproc_per_node 2 --no_python kiln ${COMMON[*]} train_config.batch_size_per_gpu=32"
"${TORCHRUN[@]}" "${RDZV[@]}" --nnodes 1 --nproc_per_node 2 --no_python "$KILN" "${COMMON[@]}" -r "$WORK/two" \
  train_config.batch_size_per_gpu=32 >"$WORK/two.log" 2>&1 || { tail -n 40 "$WORK/two.log" >&2; fail "torchrun failed"; }
grep -E 'Data:|Gradient reduction|Execution status' "$WORK/two.log"

grep -q "2 rank(s) x batch 32 = global batch 64" "$WORK/two.log" || fail "not 2 ranks of batch 32"
grep -q "Gradient reduction: .*, gloo," "$WORK/two.log" || fail "the gradients were not reduced with Gloo"
[ "$(grep -c 'Execution status: PASS' "$WORK/two.log")" = 1 ] || fail "no single PASS for the job"
diff=$(/usr/bin/python3 "$SRC/tests/support/kiln_model.py" max_diff "$WORK/one/model.kiln" "$WORK/two/model.kiln") ||
  fail "cannot compare the models"
echo "max |w(torchrun 2 x 32) - w(1 x 64)| = $diff"
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$diff') <= 1e-5 else 1)" ||
  fail "the torchrun weights differ from the single-process run's by $diff (> 1e-5)"
echo "PASS: kiln trains under torchrun ($MODE rendezvous) with Gloo and no MPI"
