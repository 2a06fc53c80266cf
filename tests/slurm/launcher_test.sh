#!/usr/bin/env bash
# kiln's own launcher runs srun for a one-node job (--num_processes 2 --launcher slurm), hosts the control plane and
# supervises the step.
source "$(dirname "$0")/common.sh"

out=$WORK/out
cmd=("$KILN" classification train -e "$SPEC" -r "$out" --num_processes 2 --launcher slurm "${SMALL[@]}")
echo "+ ${cmd[*]}"
rc=0
timeout 300 "${cmd[@]}" >"$WORK/launch.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "----- $WORK/launch.log" >&2; tail -n 60 "$WORK/launch.log" >&2
  fail "kiln --launcher slurm exited with $rc"
fi
grep -q '^Launching 2 rank(s): srun ' "$WORK/launch.log" || fail "kiln did not launch 2 ranks with srun (see $WORK/launch.log)"
# Each rank prints its status; the launcher prints its own as well.
n=$(grep -c 'Execution status: PASS' "$WORK/launch.log" || true)
[ "$n" -ge 2 ] || fail "only $n 'Execution status: PASS' lines in $WORK/launch.log"
! grep -q 'Execution status: FAIL' "$WORK/launch.log" || fail "a rank failed (see $WORK/launch.log)"
grep -q ':1] Execution status: PASS' "$WORK/launch.log" || fail "rank 1's lines are not prefixed [host:1] (srun --label)"
for r in 0 1; do
  grep -q 'Execution status: PASS' "$out/logs/rank_$r.log" || fail "$out/logs/rank_$r.log lacks rank $r's output"
done
expect_model_world_size "$out/model.kiln" 2
echo "PASS: kiln --num_processes 2 --launcher slurm"
