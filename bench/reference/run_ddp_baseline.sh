#!/bin/bash
# Runs py_ddp_baseline.py as N local ranks with the torchrun env contract (Debian's torchrun 1.13 breaks on Python 3.11).
# Usage: run_ddp_baseline.sh N [py_ddp_baseline.py args...]
# Part of kiln's own PyTorch reference (bench/reference/), which the benchmarks run side by side with kiln.
n=$1; shift; here=$(dirname "$(readlink -f "$0")"); port=$((20000 + RANDOM % 20000)); pids=()
for ((r = 0; r < n; r++)); do
  RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port OMP_NUM_THREADS=1 \
    /usr/bin/python3 "$here/py_ddp_baseline.py" "$@" & pids+=($!)
done
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc
