#!/usr/bin/env bash
# `kiln cluster check -c cluster.yaml` across 3 hosts whose links are shaped to 200 Mbit/s: the placement table names
# the hosts, every rank joins from its own host (the names the ranks report, not the file's), and the all-reduce bus
# bandwidth it measures is bounded by the shaped links, i.e. the traffic crossed them (loopback or shared memory
# would read gigabytes per second). Then the same check with the Gloo backend (KILN_CPU_BACKEND=gloo in the cluster
# file's env), whose ring all-reduce must read the shaped rate within 20%. docs/benchmarks.md compares the figures
# with raw TCP on the same links.
source "$(dirname "$0")/common.sh"

cluster_up 3 --rate 200mbit
cluster_yaml "$WORK/cluster.yaml" 1 "${HOSTS[@]}"
echo "+ on ${HOSTS[0]}: kiln cluster check -c cluster.yaml --sizes 1,4 --iterations 3"
on "${HOSTS[0]}" "$KILN" cluster check -c "$WORK/cluster.yaml" --sizes 1,4 --iterations 3 >"$WORK/check.log" 2>&1 ||
  { tail -n 40 "$WORK/check.log" >&2; fail "kiln cluster check failed"; }
cat "$WORK/check.log"
grep -q "3 ranks on 3 hosts" "$WORK/check.log" || fail "the placement table is not 3 ranks on 3 hosts"
grep -q "All 3 ranks joined the MPI world and the control plane." "$WORK/check.log" || fail "not every rank joined"
for r in 0 1 2; do
  # The table the ranks filled in: rank, the hostname it saw, pid, local rank.
  grep -Eq "^\[${HOSTS[0]}:0\] +$r +${HOSTS[$r]} +[0-9]+ +0$" "$WORK/check.log" ||
    fail "rank $r did not report host ${HOSTS[$r]}"
done
# busbw LOG MIB MIN MAX: the bus bandwidth rank 0 printed for MIB, in Gbit/s, within [MIN, MAX].
busbw() {
  local gbit
  gbit=$(grep -E "^\[${HOSTS[0]}:0\] +$2 MiB " "$1" | grep -o '[0-9.]* Gbit/s' | cut -d' ' -f1)
  [ -n "$gbit" ] || fail "no bus bandwidth for $2 MiB in $1"
  /usr/bin/python3 -c "import sys; sys.exit(0 if $3 <= $gbit <= $4 else 1)" ||
    fail "$2 MiB: bus bandwidth $gbit Gbit/s is not in [$3, $4] (links shaped to 0.2 Gbit/s)"
}
for size in 1 4; do busbw "$WORK/check.log" "$size" 0.04 0.24; done

sed -i 's/^env: {/env: {KILN_CPU_BACKEND: gloo, /' "$WORK/cluster.yaml"
echo "+ on ${HOSTS[0]}: kiln cluster check -c cluster.yaml --sizes 1,4 --iterations 3 (KILN_CPU_BACKEND=gloo)"
on "${HOSTS[0]}" "$KILN" cluster check -c "$WORK/cluster.yaml" --sizes 1,4 --iterations 3 >"$WORK/gloo.log" 2>&1 ||
  { tail -n 40 "$WORK/gloo.log" >&2; fail "kiln cluster check with Gloo failed"; }
grep -E "Gbit/s|joined|GLOO_SOCKET_IFNAME" "$WORK/gloo.log"
grep -q "All 3 ranks joined the Gloo world and the control plane." "$WORK/gloo.log" || fail "not every rank joined Gloo"
grep -q -- "-x GLOO_SOCKET_IFNAME=eth0 " "$WORK/gloo.log" || fail "network.interface did not reach Gloo"
for size in 1 4; do busbw "$WORK/gloo.log" "$size" 0.16 0.24; done
echo "PASS: kiln cluster check across 3 hosts (MPI, and Gloo at the shaped rate)"
