#!/usr/bin/env bash
# `kiln cluster check -c cluster.yaml` across 3 hosts whose links are shaped to 200 Mbit/s: the placement table names
# the hosts, every rank joins from its own host (the names the ranks report, not the file's), and the all-reduce bus
# bandwidth it measures is bounded by the shaped links, i.e. the traffic crossed them (loopback or shared memory
# would read gigabytes per second). docs/benchmarks.md compares the figures with raw TCP on the same links.
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
for size in 1 4; do
  gbit=$(grep -E "^\[${HOSTS[0]}:0\] +$size MiB " "$WORK/check.log" | grep -o '[0-9.]* Gbit/s' | cut -d' ' -f1)
  [ -n "$gbit" ] || fail "no bus bandwidth for $size MiB"
  /usr/bin/python3 -c "import sys; sys.exit(0 if 0.04 <= $gbit <= 0.24 else 1)" ||
    fail "$size MiB: bus bandwidth $gbit Gbit/s is not what a 0.2 Gbit/s link carries"
done
echo "PASS: kiln cluster check across 3 hosts"
