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
grep -q ' INFO Launching 2 rank(s): srun ' "$WORK/launch.log" ||
  fail "kiln did not launch 2 ranks with srun (see $WORK/launch.log)"
# One status line for the job: the launcher's (its ranks print none).
expect_pass "$WORK/launch.log"
grep -q '^Execution status: PASS' "$WORK/launch.log" || fail "the launcher's status line is missing or prefixed"
grep -q ':0] .* INFO Model written to ' "$WORK/launch.log" ||
  fail "rank 0's lines are not prefixed [host:0] (srun --label) or lack their time and level"
grep -q 'INFO Model written to ' "$out/logs/rank_0.log" || fail "$out/logs/rank_0.log lacks rank 0's output"
expect_model_world_size "$out/model.kiln" 2
echo "PASS: kiln --num_processes 2 --launcher slurm"
