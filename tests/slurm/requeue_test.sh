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
warn_and_requeue "$job" "$log"
expect_requeued_and_resumed "$job" "$log"
want=$(weights_digest "$WORK/straight/model.kiln") || fail "cannot read $WORK/straight/model.kiln"
got=$(weights_digest "$out/model.kiln") || fail "cannot read $out/model.kiln"
[ "$got" = "$want" ] || fail "the requeued job's weights differ from the uninterrupted run's ($got vs $want)"
echo "ok: the weights equal the uninterrupted run's (sha256 $got)"
echo "PASS: Slurm's warning stops, checkpoints and requeues the job, which resumes by itself"
