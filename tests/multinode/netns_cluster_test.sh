#!/usr/bin/env bash
# tools/netns_cluster.sh for real: 2 hosts (a prefix of this test's own, so runs can coexist) at --rate 100mbit;
# checks their hostnames, name resolution and a TCP stream between them (and that the rate holds), mpirun from inside
# the first host across both (the script as Open MPI's ssh), that the traffic crossed the hosts' veths and not the
# root namespace, and that `down` leaves nothing. Needs root; exits 77 (skip) when namespaces cannot be made.
#
#   tests/multinode/netns_cluster_test.sh [SOURCE_DIR]
set -euo pipefail

SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
NC=$SRC/tools/netns_cluster.sh
P=kt$$-  # hosts kt<pid>-1, kt<pid>-2 (<= 15 chars); the prefix may not end with a digit
H1=${P}1
H2=${P}2
WORK=""

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
cleanup() {
  "$NC" down --prefix "$P" >/dev/null 2>&1 || true
  [ -z "$WORK" ] || rm -rf -- "$WORK"
}
trap cleanup EXIT

[ -x "$NC" ] || fail "not found: $NC"
[ "$EUID" -eq 0 ] || skip "needs root (network namespaces)"
command -v mpirun >/dev/null || skip "mpirun (Open MPI) not installed"
PY=$(command -v /usr/bin/python3 python3 | head -n1) || skip "python3 not installed"

source "$SRC/tests/support/outer_job_env.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

WORK=$(mktemp -d /tmp/netns_cluster_test.XXXXXX)
root_links() { ip -o link show | awk -F': ' '{print $2}' | sort; }
root_links_before=$(root_links)
host_before=$(hostname)

rc=0
"$NC" up 2 --prefix "$P" --rate 100mbit || rc=$?
[ "$rc" -ne 3 ] || skip "tools/netns_cluster.sh cannot make namespaces here (see above)"
[ "$rc" -eq 0 ] || fail "tools/netns_cluster.sh up 2 --prefix $P exited with $rc"

got=$("$NC" hosts --prefix "$P" | tr '\n' ' ')
[ "$got" = "$H1 $H2 " ] || fail "hosts --prefix $P printed '$got', expected '$H1 $H2 '"
echo "ok: hosts $got"
[ "$(root_links)" = "$root_links_before" ] || fail "the root namespace's interfaces changed: $(root_links | xargs)"
echo "ok: nothing added to the root namespace (${root_links_before//$'\n'/ })"

# Hostnames: each host its own, the root namespace's unchanged.
for h in "$H1" "$H2"; do
  got=$(timeout 20 "$NC" exec "$h" hostname) || fail "exec $h hostname failed"
  [ "$got" = "$h" ] || fail "exec $h hostname printed '$got'"
done
[ "$(hostname)" = "$host_before" ] || fail "the machine's hostname changed: $(hostname), was $host_before"
echo "ok: hostnames $H1, $H2 (the machine's still $host_before)"

# Name resolution, both ways, through each host's /etc/hosts.
ip1=$("$NC" ip "$H1")
ip2=$("$NC" ip "$H2")
got=$(timeout 20 "$NC" exec "$H1" getent hosts "$H2" | awk '{print $1}')
[ "$got" = "$ip2" ] || fail "$H1 resolves $H2 to '$got', expected $ip2"
got=$(timeout 20 "$NC" exec "$H2" getent hosts "$H1" | awk '{print $1}')
[ "$got" = "$ip1" ] || fail "$H2 resolves $H1 to '$got', expected $ip1"
echo "ok: $H1 is $ip1, $H2 is $ip2 (each resolves the other)"

# sysfs in `ip netns exec` is the namespace's.
counter() { "$NC" exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }

# A TCP stream from H1 to H2 by name: it arrives, and no faster than --rate 100mbit.
cat >"$WORK/stream.py" <<'EOF'
import socket, sys, time
mode, host, nbytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "recv":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 5201))
    s.listen(1)
    open(sys.argv[4], "w").close()  # listening
    c, _ = s.accept()
    got, t0 = 0, time.monotonic()
    while got < nbytes:
        b = c.recv(1 << 20)
        if not b:
            break
        got += len(b)
    print(got, time.monotonic() - t0)
else:
    s = socket.create_connection((host, 5201), timeout=20)
    buf, sent = b"x" * (1 << 20), 0
    while sent < nbytes:
        sent += s.send(buf[: min(len(buf), nbytes - sent)])
    s.close()
EOF
nbytes=12500000  # 1 s at 100 Mbit/s
timeout 60 "$NC" exec "$H2" "$PY" "$WORK/stream.py" recv - "$nbytes" "$WORK/listening" >"$WORK/recv.out" &
recv_pid=$!
for _ in $(seq 100); do [ -f "$WORK/listening" ] && break; sleep 0.1; done
[ -f "$WORK/listening" ] || fail "the receiver on $H2 did not start"
timeout 60 "$NC" exec "$H1" "$PY" "$WORK/stream.py" send "$H2" "$nbytes" || fail "sending from $H1 to $H2 failed"
wait "$recv_pid" || fail "the receiver on $H2 failed"
read -r got secs <"$WORK/recv.out"
[ "$got" = "$nbytes" ] || fail "$H2 received $got bytes of $nbytes"
mbit=$(awk -v b="$got" -v s="$secs" 'BEGIN { printf "%.0f", b * 8 / s / 1e6 }')
[ "$mbit" -le 120 ] || fail "$H1 -> $H2 ran at $mbit Mbit/s with --rate 100mbit"
[ "$mbit" -ge 10 ] || fail "$H1 -> $H2 ran at only $mbit Mbit/s with --rate 100mbit"
echo "ok: $nbytes bytes $H1 -> $H2 by name at $mbit Mbit/s (--rate 100mbit)"

# mpirun inside H1, across both hosts: the script is Open MPI's ssh (no space in the agent, so it survives `exec`'s
# ssh-style re-parsing of the command line).
declare -A rx tx
for h in "$H1" "$H2"; do rx[$h]=$(counter "$h" rx_bytes); tx[$h]=$(counter "$h" tx_bytes); done
# shellcheck disable=SC2054  # --host a,b is one word
cmd=(mpirun --host "$H1,$H2" -np 2 --mca plm_rsh_agent "$(printf %q "$NC")" --mca pml ob1 --mca btl tcp,self
  --mca oob_tcp_if_include eth0 --mca btl_tcp_if_include eth0 hostname)
echo "+ $NC exec $H1 ${cmd[*]}"
rc=0
timeout 120 "$NC" exec "$H1" "${cmd[@]}" >"$WORK/mpirun.out" 2>&1 || rc=$?
got=$(sort "$WORK/mpirun.out" | tr '\n' ' ')
if [ "$rc" -ne 0 ] || [ "$got" != "$H1 $H2 " ]; then
  cat "$WORK/mpirun.out" >&2
  fail "mpirun exited with $rc and printed '$got', expected '$H1 $H2 '"
fi
echo "ok: mpirun printed $got"
for h in "$H1" "$H2"; do
  r=$(counter "$h" rx_bytes)
  t=$(counter "$h" tx_bytes)
  [ "$r" -gt "${rx[$h]}" ] && [ "$t" -gt "${tx[$h]}" ] ||
    fail "$h's eth0 counters did not grow during mpirun: rx ${rx[$h]} -> $r, tx ${tx[$h]} -> $t"
  echo "ok: $h eth0 during mpirun: rx +$((r - rx[$h])) bytes, tx +$((t - tx[$h])) bytes"
done

# loss: half of the datagrams sent to H2 are dropped at random; loss 0 lets them all through again.
receive() {  # receive N: datagrams H2 got of N sent from H1 (UDP, port 9999)
  "$NC" exec "$H2" "/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((\"0.0.0.0\", 9999)); s.settimeout(2); n = 0
try:
    while True: s.recv(64); n += 1
except socket.timeout: print(n)'" >"$WORK/received" &
  local listener=$! i
  sleep 0.5
  "$NC" exec "$H1" "/usr/bin/python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range($1): s.sendto(b\"x\", (\"$H2\", 9999)); time.sleep(0.0005)'"
  wait "$listener"
  cat "$WORK/received"
}
if command -v nft >/dev/null; then
  "$NC" loss "$H2" 50 || fail "loss $H2 50 exited with $?"
  got=$(receive 1000)
  ((got >= 350 && got <= 650)) || fail "with 50% loss $H2 received $got of 1000 datagrams"
  "$NC" loss "$H2" 0 || fail "loss $H2 0 exited with $?"
  all=$(receive 1000)
  ((all >= 990)) || fail "with the loss removed $H2 received $all of 1000 datagrams"
  "$NC" loss "$H2" 101 2>/dev/null && fail "loss 101 was accepted"
  echo "ok: loss 50% on $H2: $got of 1000 datagrams arrived; loss 0: $all"
else
  echo "note: nft (nftables) not installed: loss not checked"
fi

# down leaves nothing of this cluster.
"$NC" down --prefix "$P" || fail "down --prefix $P exited with $?"
left=$(ip netns list | awk '{print $1}' | grep -xE "${P}([0-9]+|-sw)" || true)
[ -z "$left" ] || fail "namespaces left after down: $left"
left=$(ls -d /etc/netns/"$P"* 2>/dev/null || true)
[ -z "$left" ] || fail "left after down: $left"
"$NC" exec "$H1" true 2>/dev/null && fail "exec $H1 still works after down"
[ "$(root_links)" = "$root_links_before" ] || fail "the root namespace's interfaces changed: $(root_links | xargs)"
echo "ok: down left nothing (no namespaces or /etc/netns entries of $P)"
echo "PASS: netns cluster of 2 hosts"
