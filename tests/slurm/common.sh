# Shared by the Slurm tests (sourced). Usage of each test: <test>.sh KILN_BIN SOURCE_DIR WORK_DIR
# Needs SLURM_CONF pointing at a running cluster (tools/slurm_local.sh start DIR; ctest's fixture does it).
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

[ $# -eq 3 ] || { echo "usage: $0 KILN_BIN SOURCE_DIR WORK_DIR" >&2; exit 2; }
KILN=$1
SRC=$2
WORK=$3
[ -x "$KILN" ] || fail "kiln executable not found: $KILN"
[ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ] ||
  fail "SLURM_CONF='${SLURM_CONF:-}' is not a slurm.conf (start a cluster with tools/slurm_local.sh start DIR)"
SPEC=$SRC/specs/samples/classification_lenet5_fmnist.yaml
# Small and quick on 2 cores.
SMALL=(train_config.n_epochs=1 dataset_config.train.max_samples=2000 dataset_config.val.max_samples=500)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

source "$SRC/tests/support/outer_job_env.sh"

rm -rf "$WORK"
mkdir -p "$WORK"

# What the tests read from .kiln files (tests/support/kiln_model.py).
MODEL_TOOL=$SRC/tests/support/kiln_model.py
world_size() { /usr/bin/python3 "$MODEL_TOOL" meta "$1" world_size; }
# Two runs that ended with the same weights bit for bit have the same digest, whatever else their metadata says.
weights_digest() { /usr/bin/python3 "$MODEL_TOOL" digest "$1"; }

expect_model_world_size() {
  local model=$1 want=$2 got
  [ -f "$model" ] || fail "no model written: $model"
  got=$(world_size "$model") || fail "cannot read the metadata of $model"
  [ "$got" = "$want" ] || fail "$model says world_size $got, expected $want"
  echo "ok: $model has world_size $got"
}

# expect_pass FILE: the job printed exactly one "Execution status: PASS" (its launcher's, or rank 0's without one)
# and no FAIL.
expect_pass() {
  local file=$1 got
  got=$(grep -c 'Execution status: PASS' "$file" || true)
  if grep -q 'Execution status: FAIL' "$file" || [ "$got" != 1 ]; then
    echo "----- $file" >&2; tail -n 60 "$file" >&2
    fail "$file: $got 'Execution status: PASS' line(s), expected exactly 1 for the job (and no FAIL)"
  fi
  echo "ok: the job passed ($file)"
}

slurm_cmd() { "$@"; }
source "$SRC/tests/support/slurm_jobs.sh"

# this_host_cluster FILE NAME [SLURM_EXTRA]: a cluster YAML for this host (2 slots, launcher slurm, the cluster's
# partition, a 10 minute limit), SLURM_EXTRA added to its slurm: map (e.g. "grace_seconds: 60").
this_host_cluster() {
  local partition
  partition=$(sinfo -h -o '%R' | head -n1)
  cat >"$1" <<YAML
name: $2
launcher: slurm
nodes:
  - host: $(hostname -s)
    slots: 2
env:
  OMP_NUM_THREADS: 1
  OPENBLAS_NUM_THREADS: 1
slurm: {partition: $partition, time: "00:10:00"${3:+, $3}}
YAML
}
