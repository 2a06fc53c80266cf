#!/usr/bin/env bash
# Slurm across hosts: slurmctld on host 1 (a login node) and one slurmd on each of hosts 2 and 3
# (tools/slurm_local.sh start DIR --netns P: NodeName, spool, log and pid file per host). From the login node:
#   1. `srun -N 2 --ntasks-per-node 1 --mpi=pmix kiln …` trains with one rank on each node (rank 0 hosts the control
#      plane; Open MPI's TCP transport between the nodes over eth0);
#   2. a batch script that kiln emitted for a cluster file of the 2 nodes (--emit-sbatch) is submitted with sbatch
#      and completes.
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
SMALL=(train_config.n_epochs=1 dataset_config.train.max_samples=2000 dataset_config.val.max_samples=500)

echo "+ on $h1: srun -N 2 --ntasks-per-node 1 hostname"
placed=$(on "$h1" srun -N 2 --ntasks-per-node 1 hostname | sort | tr '\n' ' ')
[ "$placed" = "$h2 $h3 " ] || fail "srun -N 2 ran on '$placed', expected $h2 and $h3"

echo "+ on $h1: srun -N 2 --ntasks-per-node 1 --mpi=pmix kiln classification train …"
on "$h1" env OMPI_MCA_btl_tcp_if_include=eth0 OMP_NUM_THREADS=1 srun -N 2 --ntasks-per-node 1 --mpi=pmix \
  "$KILN" classification train -e "$SPEC" -r "$WORK/srun" "${SMALL[@]}" >"$WORK/srun.log" 2>&1 ||
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
slurm: {partition: debug, time: "00:10:00"}
YAML
script=$WORK/train.sbatch
"$KILN" classification train -e "$SPEC" -r "$WORK/sbatch" -c "$WORK/cluster.yaml" --emit-sbatch "$script" \
  "${SMALL[@]}" >"$WORK/emit.log" 2>&1 || { cat "$WORK/emit.log" >&2; fail "kiln --emit-sbatch failed"; }
grep -q -- "--nodelist=$h2,$h3" "$script" || fail "$script does not name the two nodes"
echo "+ on $h1: sbatch $script"
job=$(cd "$WORK" && on "$h1" sbatch --parsable "$script") || fail "sbatch failed"
job=${job%%;*}
for _ in $(seq 300); do
  on "$h1" squeue -h -j "$job" 2>/dev/null | grep -q . || break
  sleep 1
done
state=$(on "$h1" scontrol -o show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
log=$WORK/sbatch/logs/slurm-$job.out
[ -f "$log" ] || fail "job $job ($state) wrote no $log"
grep -E 'Data:|Execution status' "$log" || true
[ "$state" = COMPLETED ] || { tail -n 40 "$log" >&2; fail "job $job ended in state '$state'"; }
[ "$(grep -c 'Execution status: PASS' "$log")" = 1 ] || fail "no single PASS in $log"
[ "$(model_meta "$WORK/sbatch/model.kiln" world_size)" = 2 ] || fail "the sbatch model's world_size is not 2"
echo "PASS: Slurm across 2 nodes (srun and an emitted sbatch script), controller on a third host"
