#!/usr/bin/env bash
# Slurm's warning before a time limit, for real: a job from kiln --emit-sbatch (2 ranks) gets USR1 in its batch
# script mid-training, as `--signal=B:USR1@N` sends it; the ranks stop at an agreed step with a checkpoint, the
# script requeues the job, and the requeued job resumes by itself and ends with the weights of an uninterrupted run
# (deterministic mode) bit for bit.
source "$(dirname "$0")/common.sh"

this_host_cluster "$WORK/cluster.yaml" kiln-requeue-test "grace_seconds: 60"
# 16,000 images: 1,000 steps per epoch on 2 ranks of batch 8, long enough to be warned in the middle of one.
RUN=(--enable_determinism train_config.n_epochs=3 train_config.batch_size_per_gpu=8
  dataset_config.train.max_samples=16000 dataset_config.val.max_samples=500)

echo "+ the reference: $KILN classification train -e $SPEC --num_processes 2 ${RUN[*]}"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  "$KILN" classification train -e "$SPEC" -r "$WORK/straight" --num_processes 2 --num_threads 1 "${RUN[@]}" \
  >"$WORK/straight.log" 2>&1 || { tail -n 40 "$WORK/straight.log" >&2; fail "the uninterrupted run failed"; }

out=$WORK/out
script=$WORK/job.sbatch
"$KILN" classification train -e "$SPEC" -r "$out" -c "$WORK/cluster.yaml" --emit-sbatch "$script" "${RUN[@]}" \
  >"$WORK/emit.log" 2>&1 || { cat "$WORK/emit.log" >&2; fail "kiln --emit-sbatch failed"; }
grep -q -- '--signal=B:USR1@60' "$script" || fail "$script asks for no warning (--signal=B:USR1@60)"
grep -q -- '--requeue' "$script" || fail "$script is not requeueable (--requeue)"

job=$(cd "$WORK" && sbatch --parsable "$script") || fail "sbatch $script failed"
job=${job%%;*}
echo "submitted job $job"
log=$out/logs/slurm-$job.out
deadline=$((SECONDS + 300))
until grep -qs 'First training step done' "$log"; do
  ((SECONDS < deadline)) || { scancel "$job"; fail "job $job did not start training in 300 s"; }
  [ -n "$(job_field "$job" JobState)" ] || fail "job $job vanished before it trained"
  sleep 0.1
done

echo "+ scancel --signal=USR1 --batch $job   (what Slurm sends grace_seconds before the time limit)"
scancel --signal=USR1 --batch "$job" || fail "scancel --signal=USR1 --batch $job failed"

# The requeued job waits out Slurm's requeue delay (cred_expire, 120 s by default) before it may start again;
# once it is back in the queue, let it start now.
deadline=$((SECONDS + 120))
until [ "$(job_field "$job" Restarts)" = 1 ] && [ "$(job_field "$job" JobState)" = PENDING ]; do
  ((SECONDS < deadline)) || { scancel "$job"; fail "job $job was not requeued (state $(job_field "$job" JobState))"; }
  sleep 0.2
done
echo "job $job requeued (Restarts=1, PENDING)"
scontrol update JobId="$job" StartTime=now || fail "scontrol update JobId=$job StartTime=now failed"
wait_for_job "$job" 300
state=$(job_field "$job" JobState)
[ -f "$log" ] || fail "job $job ($state) wrote no $log"
echo "----- $log (the lines that tell the story)"
grep -E 'interrupted by signal|requeueing|Resuming from|Execution status' "$log" || true
grep -q 'interrupted by signal 10 (SIGUSR1) after step' "$log" || fail "$log: the ranks did not stop on USR1"
grep -q "kiln: job $job stopped at a checkpoint before its time limit; requeueing it" "$log" ||
  fail "$log: the script did not requeue the job"
grep -q 'Resuming from' "$log" || fail "$log: the requeued job did not resume from the checkpoint"
last=$(grep -o 'Execution status: [A-Z]*' "$log" | tail -n1)
[ "$last" = "Execution status: PASS" ] || fail "$log: the requeued job ended with '$last'"
[ "$state" = COMPLETED ] || fail "job $job ended in state '$state', expected COMPLETED"
want=$(weights_digest "$WORK/straight/model.kiln") || fail "cannot read $WORK/straight/model.kiln"
got=$(weights_digest "$out/model.kiln") || fail "cannot read $out/model.kiln"
[ "$got" = "$want" ] || fail "the requeued job's weights differ from the uninterrupted run's ($got vs $want)"
echo "ok: the weights equal the uninterrupted run's (sha256 $got)"
echo "PASS: Slurm's warning stops, checkpoints and requeues the job, which resumes by itself"
