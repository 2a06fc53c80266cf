#!/usr/bin/env bash
# kiln --emit-sbatch writes a batch script for a cluster YAML of this host (2 slots, launcher slurm); sbatch runs it.
# Without kiln's launcher, rank 0 hosts the control plane. Success is read from the job's output file and its state,
# not from srun's exit code, which is unreliable after scancel (docs/slurm.md).
source "$(dirname "$0")/common.sh"

this_host_cluster "$WORK/cluster.yaml" kiln-slurm-test
out=$WORK/out
script=$WORK/job.sbatch
echo "+ $KILN classification train -e $SPEC -r $out -c $WORK/cluster.yaml --emit-sbatch $script ${SMALL[*]}"
"$KILN" classification train -e "$SPEC" -r "$out" -c "$WORK/cluster.yaml" --emit-sbatch "$script" "${SMALL[@]}" \
  >"$WORK/emit.log" 2>&1 || { cat "$WORK/emit.log" >&2; fail "kiln --emit-sbatch failed"; }
[ -s "$script" ] || fail "kiln --emit-sbatch wrote no $script"
echo "----- $script"; cat "$script"
grep -q -- '--mpi=pmix' "$script" || fail "$script: srun without --mpi=pmix"
[ ! -e "$out/model.kiln" ] || fail "--emit-sbatch must run nothing, but $out/model.kiln exists"

job=$(cd "$WORK" && sbatch --parsable "$script") || fail "sbatch $script failed"
job=${job%%;*}
echo "submitted job $job"
wait_for_job "$job" 300
# No accounting: scontrol knows the job for MinJobAge seconds after it ends.
state=$(job_field "$job" JobState)
echo "job $job ended: JobState=${state:-unknown}"
log=$out/logs/slurm-$job.out
if [ ! -f "$log" ]; then
  [ -d "$(dirname "$log")" ] || fail "job $job ($state) has no output: the script's --output directory" \
    "$(dirname "$log") does not exist (Slurm does not create it; kiln --emit-sbatch must)"
  fail "job $job ($state) wrote no $log"
fi
expect_pass "$log"
[ "$state" = COMPLETED ] || fail "job $job ended in state '$state', expected COMPLETED"
expect_model_world_size "$out/model.kiln" 2
echo "ok: kiln --emit-sbatch -c cluster.yaml + sbatch"

# Without -c: no node list (Slurm picks the node), each rank's threads from the task's CPUs where it runs.
out2=$WORK/out2
script2=$WORK/local.sbatch
echo "+ $KILN classification train -e $SPEC -r $out2 --num_processes 2 --emit-sbatch $script2 ${SMALL[*]}"
"$KILN" classification train -e "$SPEC" -r "$out2" --num_processes 2 --emit-sbatch "$script2" "${SMALL[@]}" \
  >"$WORK/emit2.log" 2>&1 || { cat "$WORK/emit2.log" >&2; fail "kiln --emit-sbatch without -c failed"; }
echo "----- $script2"; cat "$script2"
! grep -q -- '--nodelist' "$script2" || fail "$script2 names nodes although none were given"
grep -q 'OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}' "$script2" || fail "$script2 does not take threads from Slurm"
job2=$(cd "$WORK" && sbatch --parsable --cpus-per-task=2 "$script2") || fail "sbatch $script2 failed"
job2=${job2%%;*}
wait_for_job "$job2" 300
log2=$out2/logs/slurm-$job2.out
[ -f "$log2" ] || fail "job $job2 wrote no $log2"
expect_pass "$log2"
grep -q "2 thread(s) per rank" "$log2" || fail "$log2: the ranks did not take SLURM_CPUS_PER_TASK=2 threads"
expect_model_world_size "$out2/model.kiln" 2
echo "PASS: kiln --emit-sbatch + sbatch"
