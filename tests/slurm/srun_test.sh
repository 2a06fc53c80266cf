#!/usr/bin/env bash
# srun starts 2 kiln ranks directly (no kiln launcher): they find their rank in Slurm's variables and form an MPI
# world through PMIx.
source "$(dirname "$0")/common.sh"

out=$WORK/out
cmd=(srun -n 2 --mpi=pmix --kill-on-bad-exit=1 "$KILN" classification train -e "$SPEC" -r "$out" "${SMALL[@]}")
echo "+ ${cmd[*]}"
rc=0
timeout 300 "${cmd[@]}" >"$WORK/srun.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "----- $WORK/srun.log" >&2; tail -n 60 "$WORK/srun.log" >&2
  fail "srun exited with $rc"
fi
expect_pass "$WORK/srun.log"
grep -q '2 rank(s)' "$WORK/srun.log" || fail "the ranks did not see a world of 2 (no '2 rank(s)' line in $WORK/srun.log)"
expect_model_world_size "$out/model.kiln" 2
echo "PASS: srun -n 2 --mpi=pmix kiln"
