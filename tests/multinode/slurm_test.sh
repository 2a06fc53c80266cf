#!/usr/bin/env bash
# Slurm across hosts: slurmctld on host 1 (a login node) and one slurmd on each of hosts 2 and 3
# (tools/slurm_local.sh start DIR --netns P: NodeName, spool, log and pid file per host). From the login node:
#   1. `srun -N 2 --ntasks-per-node 1 --mpi=pmix kiln …` trains with one rank on each node (rank 0 hosts the control
#      plane; Open MPI's TCP transport between the nodes over eth0), in deterministic mode;
#   2. the same training from a batch script that kiln emitted for a cluster file of the 2 nodes (--emit-sbatch) is
#      submitted with sbatch and, mid-training, gets the USR1 that `--signal=B:USR1@N` sends before a time limit:
#      the ranks on both nodes stop at an agreed step with a checkpoint, the script requeues the job, the requeued
#      job resumes by itself, completes, and ends with the srun job's weights bit for bit.
# Both models have world_size 2; the daemons are stopped by their pid files.
source "$(dirname "$0")/common.sh"
command -v slurmctld >/dev/null && command -v munged >/dev/null || skip "slurm-wlm and munge not installed"

cluster_up 3
h1=${HOSTS[0]} h2=${HOSTS[1]} h3=${HOSTS[2]}
SLURM_DIR=$WORK/slurm
stop_slurm() { "$SRC/tools/slurm_local.sh" stop "$SLURM_DIR" >/dev/null 2>&1 || true; cleanup; }
trap stop_slurm EXIT
"$SRC/tools/slurm_local.sh" start "$SLURM_DIR" --netns "$PREFIX" || fail "the Slurm cluster did not start"
export SLURM_CONF=$SLURM_DIR/slurm.conf
# 8,000 images: 500 steps per epoch on 2 ranks of batch 8, long enough to be warned in the middle of training.
RUN=(--enable_determinism train_config.n_epochs=2 train_config.batch_size_per_gpu=8
  dataset_config.train.max_samples=8000 dataset_config.val.max_samples=500)
# Slurm's client commands run on the login node.
slurm_cmd() { on "$h1" "$@"; }
source "$SRC/tests/support/slurm_jobs.sh"

echo "+ on $h1: srun -N 2 --ntasks-per-node 1 hostname"
placed=$(on "$h1" srun -N 2 --ntasks-per-node 1 hostname | sort | tr '\n' ' ')
[ "$placed" = "$h2 $h3 " ] || fail "srun -N 2 ran on '$placed', expected $h2 and $h3"

echo "+ on $h1: srun -N 2 --ntasks-per-node 1 --mpi=pmix kiln classification train …"
on "$h1" env OMPI_MCA_btl_tcp_if_include=eth0 OMP_NUM_THREADS=1 srun -N 2 --ntasks-per-node 1 --mpi=pmix \
  "$KILN" classification train -e "$SPEC" -r "$WORK/srun" "${RUN[@]}" >"$WORK/srun.log" 2>&1 ||
  { tail -n 40 "$WORK/srun.log" >&2; fail "srun -N 2 kiln failed"; }
grep -E 'Data:|Execution status' "$WORK/srun.log"
grep -q "2 rank(s) x batch" "$WORK/srun.log" || fail "not 2 ranks"
[ "$(grep -c 'Execution status: PASS' "$WORK/srun.log")" = 1 ] || fail "no single PASS for the srun job"
[ "$(model_meta "$WORK/srun/model.kiln" world_size)" = 2 ] || fail "the srun model's world_size is not 2"

cat >"$WORK/cluster.yaml" <<YAML
name: multinode-slurm
launcher: slurm
nodes:
  - {host: $h2, slots: 1}
  - {host: $h3, slots: 1}
network: {interface: eth0}
env: {OMP_NUM_THREADS: 1, OPENBLAS_NUM_THREADS: 1}
slurm: {partition: debug, time: "00:10:00", grace_seconds: 60}
YAML
script=$WORK/train.sbatch
out=$WORK/sbatch
"$KILN" classification train -e "$SPEC" -r "$out" -c "$WORK/cluster.yaml" --emit-sbatch "$script" "${RUN[@]}" \
  >"$WORK/emit.log" 2>&1 || { cat "$WORK/emit.log" >&2; fail "kiln --emit-sbatch failed"; }
grep -q -- "--nodelist=$h2,$h3" "$script" || fail "$script does not name the two nodes"
grep -q -- '--signal=B:USR1@60' "$script" || fail "$script asks for no warning (--signal=B:USR1@60)"
grep -q -- '--requeue' "$script" || fail "$script is not requeueable (--requeue)"
echo "+ on $h1: sbatch $script"
job=$(cd "$WORK" && on "$h1" sbatch --parsable "$script") || fail "sbatch failed"
job=${job%%;*}
log=$out/logs/slurm-$job.out
warn_and_requeue "$job" "$log"
expect_requeued_and_resumed "$job" "$log"
[ "$(model_meta "$out/model.kiln" world_size)" = 2 ] || fail "the sbatch model's world_size is not 2"
want=$(/usr/bin/python3 "$SRC/tests/support/kiln_model.py" digest "$WORK/srun/model.kiln") || fail "no srun model"
got=$(/usr/bin/python3 "$SRC/tests/support/kiln_model.py" digest "$out/model.kiln") || fail "no sbatch model"
[ "$got" = "$want" ] || fail "the requeued job's weights differ from the srun job's ($got vs $want)"
echo "ok: the requeued job's weights equal the uninterrupted srun job's (sha256 $got)"
echo "PASS: Slurm across 2 nodes: srun, and an emitted sbatch job warned mid-training that requeues and resumes itself"
