# Shared by the multi-host tests (sourced). Usage of each test: <test>.sh KILN_BIN SOURCE_DIR WORK_DIR
# Each test makes its own cluster of network-namespace hosts (tools/netns_cluster.sh, a prefix of its own, so tests
# can run side by side) and removes it on exit; it exits 77 (ctest: skipped) where namespaces cannot be made.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

[ $# -eq 3 ] || { echo "usage: $0 KILN_BIN SOURCE_DIR WORK_DIR" >&2; exit 2; }
KILN=$1
SRC=$2
WORK=$3
NC=$SRC/tools/netns_cluster.sh
[ -x "$KILN" ] || fail "kiln executable not found: $KILN"
[ "$EUID" -eq 0 ] || skip "needs root (network namespaces)"
command -v mpirun >/dev/null || skip "mpirun (Open MPI) not installed"
SPEC=$SRC/specs/samples/classification_lenet5_fmnist.yaml

source "$SRC/tests/support/outer_job_env.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

rm -rf "$WORK"
mkdir -p "$WORK"
PREFIX=""
cleanup() { [ -z "$PREFIX" ] || "$NC" down --prefix "$PREFIX" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# cluster_up N [--rate R]: hosts $PREFIX1..N; sets HOSTS (array). A prefix of this process (<= 15 chars a name).
cluster_up() {
  local n=$1 rc=0
  shift
  PREFIX=km$$-
  "$NC" up "$n" --prefix "$PREFIX" "$@" >"$WORK/netns_up.log" 2>&1 || rc=$?
  [ "$rc" -ne 3 ] || skip "$(tail -n1 "$WORK/netns_up.log")"
  [ "$rc" -eq 0 ] || { cat "$WORK/netns_up.log" >&2; fail "netns_cluster.sh up $n failed"; }
  mapfile -t HOSTS < <("$NC" hosts --prefix "$PREFIX")
}

# on HOST CMD...: runs CMD on HOST (its network namespace and hostname); the words are passed as they are.
on() {
  local host=$1
  shift
  local words=() w
  for w in "$@"; do words+=("$(printf '%q' "$w")"); done
  "$NC" exec "$host" "${words[*]}"
}

# cluster_yaml FILE SLOTS HOST...: a cluster file for mpirun across HOSTs over their eth0, this script as ssh.
cluster_yaml() {
  local file=$1 slots=$2 h
  shift 2
  {
    echo "name: multinode-test"
    echo "launcher: mpirun"
    echo "nodes:"
    for h in "$@"; do printf '  - host: %s\n    slots: %s\n' "$h" "$slots"; done
    echo "network: {interface: eth0}"
    echo "env: {OMP_NUM_THREADS: 1, OPENBLAS_NUM_THREADS: 1}"
    echo "mpirun_args: [--mca, plm_rsh_agent, $NC, --mca, oob_tcp_if_include, eth0]"
  } >"$file"
}

# expect_crossed H1 SENT1 H2 SENT2: the 50 steps of the N-vs-1 configuration all-reduce LeNet5's 61,706 float32
# gradients (247 KB), and each host sends at least half of that per step (a ring of 2 sends half the buffer each way,
# twice) across its eth0; the job's other traffic is far less.
expect_crossed() {
  local min=$((50 * 61706 * 4 / 2))
  echo "bytes sent over eth0: $1 $2, $3 $4 (the all-reduce alone: >= $min each)"
  (($2 >= min && $4 >= min)) || fail "the gradients did not cross the hosts' veths"
}

# expect_same_weights ONE TWO WHAT: the models' weights within the N-vs-1 test's tolerance (1e-5).
expect_same_weights() {
  local diff
  diff=$(max_weight_diff "$1" "$2") || fail "cannot compare the models"
  echo "max |w($3) - w(1 x 64)| = $diff"
  /usr/bin/python3 -c "import sys; sys.exit(0 if float('$diff') <= 1e-5 else 1)" ||
    fail "the weights of $3 differ from the single-process run's by $diff (> 1e-5)"
}

# Bytes a host's eth0 has sent.
tx_bytes() { ip netns exec "$1" cat /sys/class/net/eth0/statistics/tx_bytes; }

# What the tests read from .kiln files (tests/support/kiln_model.py): meta[KEY] of FILE; the largest absolute
# difference between the float32 model/* tensors of two files.
model_meta() { /usr/bin/python3 "$SRC/tests/support/kiln_model.py" meta "$1" "$2"; }
max_weight_diff() { /usr/bin/python3 "$SRC/tests/support/kiln_model.py" max_diff "$1" "$2"; }
