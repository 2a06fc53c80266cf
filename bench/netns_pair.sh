# Sourced by the benchmarks over two hosts of tools/netns_cluster.sh (netns_faults.sh, netns_loss.sh,
# netns_speed.sh), after they set SRC (the source tree), OUT (their output folder) and P (a host-name prefix of their
# own). Gives H1 and H2 (the hosts), NC (the cluster script), removes the hosts on exit, and:
#   pair_up [UP OPTIONS…]                    (re)makes the two hosts, e.g. pair_up --rate 1gbit; exits 77 where
#                                            namespaces cannot be made
#   pair_yaml FILE NAME [ENV] [MPIRUN_ARGS]  a cluster file with one rank on each host over eth0, the launcher's
#                                            mpirun reaching them through NC; ENV and MPIRUN_ARGS are added to its
#                                            env map and mpirun_args list ("KILN_CPU_BACKEND: gloo", "--bind-to, none")
NC=$SRC/tools/netns_cluster.sh
H1=${P}1 H2=${P}2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cleanup() { "$NC" down --prefix "$P" >/dev/null 2>&1 || true; }
trap cleanup EXIT
mkdir -p "$OUT"

pair_up() {
  local rc=0
  cleanup
  "$NC" up 2 --prefix "$P" "$@" >"$OUT/netns_up.log" 2>&1 || rc=$?
  [ "$rc" -ne 3 ] || { tail -n1 "$OUT/netns_up.log" >&2; exit 77; }
  [ "$rc" -eq 0 ] || { cat "$OUT/netns_up.log" >&2; exit 1; }
}

pair_yaml() {
  cat >"$1" <<YAML
name: $2
launcher: mpirun
nodes:
  - {host: $H1, slots: 1}
  - {host: $H2, slots: 1}
network: {interface: eth0}
env: {OMP_NUM_THREADS: 1, OPENBLAS_NUM_THREADS: 1${3:+, $3}}
mpirun_args: [--mca, plm_rsh_agent, $NC, --mca, oob_tcp_if_include, eth0${4:+, $4}]
YAML
}
