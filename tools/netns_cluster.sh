#!/usr/bin/env bash
# A cluster of N "hosts" on this one machine for multi-node tests: each host is a network namespace with its own
# address, /etc/hosts and hostname, all joined by a bridge that lives in a namespace of its own ("<prefix>-sw"), so
# nothing is added to the root namespace's network stack and no traffic leaves the namespaces made here.
# Needs root, iproute2 (ip, tc) and util-linux (unshare); exits 3 when namespaces cannot be made (tests skip then).
#
#   tools/netns_cluster.sh up N [--rate 1gbit] [--delay 200us] [--prefix P] [--subnet A.B.C.0/24]
#                                        make hosts P1..PN (default prefix "node"), tearing down leftovers of P first
#   tools/netns_cluster.sh down [--prefix P]  remove the namespaces P1..PN and P-sw and /etc/netns/<them> (by name,
#                                        only those this script made; processes still in them are killed by pid)
#   tools/netns_cluster.sh exec HOST [CMD...]  run CMD on HOST like ssh does: the args are joined with spaces and run
#                                        by bash -c (so quote twice what must stay one word), with hostname HOST (an
#                                        own UTS namespace); cwd and environment are kept; no CMD: interactive shell
#   tools/netns_cluster.sh HOST [CMD...]  the same (an ssh-like agent without a space, for Open MPI)
#   tools/netns_cluster.sh hosts [--prefix P]  print the host names, one a line
#   tools/netns_cluster.sh ip HOST       print the host's address
#   tools/netns_cluster.sh loss HOST PCT  drop PCT% (0-100, e.g. 2 or 0.5) of the packets HOST's eth0 sends and of
#                                        those it receives, at random (nftables' numgen, in HOST's namespace; the
#                                        kernel here has no netem); 0 removes it. Needs nft (package nftables).
#
# Host PK has the namespace PK, the address <subnet>.K on its interface eth0 and sees /etc/netns/PK/hosts as
# /etc/hosts (localhost and every host of the cluster). The subnet is 10.77.0.0/24 for prefix "node"; other prefixes
# get a /24 in 10.78-127.x derived from the name, or up's --subnet (e.g. 10.99.3.0/24). Clusters cannot reach one
# another (nor the root namespace), so a clash is harmless. IPv6 is off in the hosts. --rate shapes each host's egress
# on eth0 (tbf), so every link is shaped both ways; --delay uses netem instead (needs CONFIG_NET_SCH_NETEM, else exit
# 3). HOST for exec/ip may be a host name, user@name, name.domain or an address of a host.
# Exit status: 1 error, 2 usage, 3 this machine cannot make namespaces (tests skip), exec: 255 unknown host, else
# the command's.
#
# Open MPI across hosts: mpirun runs inside a host (the root namespace cannot reach them), with the script as its ssh:
#   tools/netns_cluster.sh exec node1 mpirun --host node1,node2 -np 2 \
#     --mca plm_rsh_agent "$PWD/tools/netns_cluster.sh" --mca pml ob1 --mca btl tcp,self \
#     --mca oob_tcp_if_include eth0 --mca btl_tcp_if_include eth0 hostname
# (as root also: export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1). plm_rsh_agent="/path exec" works
# too, but through `exec node1 ...` only quoted twice ("'/path exec'"): `exec` re-splits the command line as ssh would.
set -euo pipefail

PROG=netns_cluster
IFACE=eth0      # the host's interface, in its namespace
BRIDGE=br0      # the bridge, in the switch namespace
ETC=/etc/netns  # ip netns exec bind-mounts /etc/netns/<ns>/* over /etc/*
MARK="# netns_cluster:"

log() { echo "$PROG: $*" >&2; }
die() { log "$*"; exit 1; }
# Exit 3: this machine cannot make the cluster (not root, no ip, no netns/veth/bridge/netem); tests skip on it.
unable() { log "cannot make the cluster: $*"; exit 3; }
usage() {
  cat >&2 <<EOF
usage: $0 up N [--rate RATE] [--delay DELAY] [--prefix P] [--subnet A.B.C.0/24]
       $0 down [--prefix P]
       $0 exec HOST [CMD...]
       $0 hosts [--prefix P]
       $0 ip HOST
       $0 loss HOST PERCENT
EOF
  exit 2
}

check_prefix() {
  [[ $1 =~ ^[a-z]([a-z0-9-]*[a-z-])?$ ]] ||
    die "bad prefix '$1': lower-case letters, digits and '-', starting with a letter and not ending with a digit"
}

# The marker line a file in /etc/netns/<ns>/ starts with, and the value of one of its fields (prefix, role, name).
marker_field() {
  local file=$ETC/$1/hosts line
  [ -f "$file" ] || return 1
  IFS= read -r line <"$file" || true
  [[ $line == "$MARK "* ]] || return 1
  sed -n "1s/.* $2=\([^ ]*\).*/\1/p" "$file"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$1"; }

# The names of the namespaces of prefix P that this script made (a marker in /etc/netns/<ns>/hosts says so), or left
# behind half-made (a namespace without /etc/netns/<ns> whose name fits P is NOT taken: it is someone else's).
cluster_names() {
  local p=$1 d n
  for d in "$ETC"/*/; do
    [ -d "$d" ] || continue
    n=$(basename "$d")
    [[ $n =~ ^$p([0-9]+|-sw)$ ]] || continue
    [ "$(marker_field "$n" prefix || true)" = "$p" ] && echo "$n"
  done | sort -V
}

cluster_hosts() {
  local n
  for n in $(cluster_names "$1"); do
    [ "$(marker_field "$n" role)" = host ] && ns_exists "$n" && echo "$n"
  done
  return 0
}

# The subnet's first three octets for prefix P.
subnet_base() {
  local p=$1 s h
  if [ -n "${SUBNET:-}" ]; then
    s=${SUBNET%/24}
    s=${s%.0}
    [[ $s =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "--subnet $SUBNET is not A.B.C.0/24"
    echo "$s"
  elif [ "$p" = node ]; then
    echo 10.77.0
  else
    h=$(printf '%s' "$p" | cksum | cut -d' ' -f1)
    echo "10.$((78 + h % 50)).$(((h / 50) % 256))"
  fi
}

# "100mbit" → bytes per second (tc's units: bit/kbit/mbit/gbit/tbit or a bare number are bits, bps/kbps/... bytes).
rate_bytes() {
  local r=${1,,}
  [[ $r =~ ^([0-9]+(\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)?$ ]] ||
    die "bad --rate '$1' (e.g. 100mbit, 1gbit, 500kbit, 10mbps)"
  local v=${BASH_REMATCH[1]} u=${BASH_REMATCH[3]:-bit}
  awk -v v="$v" -v u="$u" 'BEGIN {
    m["bit"] = 1/8; m["kbit"] = 1e3/8; m["mbit"] = 1e6/8; m["gbit"] = 1e9/8; m["tbit"] = 1e12/8
    m["bps"] = 1; m["kbps"] = 1e3; m["mbps"] = 1e6; m["gbps"] = 1e9; m["tbps"] = 1e12
    printf "%.0f\n", v * m[u] }'
}

# Kills the processes still inside namespace NS (by pid: TERM, then KILL after 2 s), so that it really goes away.
kill_ns_pids() {
  local ns=$1 pids pid
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [ -n "$pids" ] || return 0
  log "killing the processes left in $ns: ${pids//$'\n'/ }"
  for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
}

down() {
  local p=$1 n removed=0
  # Hosts first, the switch last; deleting a namespace deletes the veths in it (and so their peers).
  for n in $(cluster_names "$p" | grep -vx -- "$p-sw" || true) $(cluster_names "$p" | grep -x -- "$p-sw" || true); do
    if ns_exists "$n"; then
      kill_ns_pids "$n"
      ip netns del "$n" || log "could not delete namespace $n"
    fi
    rm -rf -- "${ETC:?}/$n"
    removed=$((removed + 1))
  done
  rmdir "$ETC" 2>/dev/null || true
  if [ "$removed" -gt 0 ]; then log "down: removed $removed namespace(s) of prefix $p"; fi
  return 0
}

# Runs a command of `up`; on failure says what failed (and the EXIT trap tears the half-made cluster down).
UP_PREFIX=""
step() {
  local err
  if ! err=$("$@" 2>&1); then
    log "failed: $* (${err:-no message})"
    return 1
  fi
}

# On exit from a failed `up`: tears the half-made cluster down.
up_failed() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$UP_PREFIX" ]; then
    log "up failed; tearing down"
    down "$UP_PREFIX"
  fi
}

up() {
  local n=$1 p=$2 rate=$3 delay=$4 base sw k h addr list="" bytes burst err
  [[ $n =~ ^[1-9][0-9]*$ ]] && [ "$n" -le 254 ] || die "the number of hosts must be 1..254, not '$n'"
  check_prefix "$p"
  [ $((${#p} + ${#n})) -le 15 ] || die "prefix '$p' too long: host names (interface names in $p-sw) must be <= 15 chars"
  [ "$EUID" -eq 0 ] || unable "must run as root (network namespaces)"
  command -v ip >/dev/null || unable "'ip' not found (apt-get install iproute2)"
  command -v unshare >/dev/null || unable "'unshare' not found (apt-get install util-linux)"
  command -v hostname >/dev/null || unable "'hostname' not found (apt-get install hostname)"
  if [ -n "$rate$delay" ]; then command -v tc >/dev/null || unable "'tc' not found (apt-get install iproute2)"; fi
  if [ -n "$rate" ]; then
    bytes=$(rate_bytes "$rate")
    [ "$bytes" -gt 0 ] || die "--rate must be > 0"
  fi
  if [ -n "$delay" ]; then
    [[ ${delay,,} =~ ^[0-9]+(\.[0-9]+)?(us|usec|ms|msec|s|sec)$ ]] || die "bad --delay '$delay' (e.g. 200us, 2ms)"
  fi
  base=$(subnet_base "$p")
  sw=$p-sw
  for k in $(seq "$n"); do
    if ns_exists "$p$k" && [ "$(marker_field "$p$k" prefix || true)" != "$p" ]; then
      die "a namespace $p$k exists that this script did not make; remove it or use another --prefix"
    fi
  done
  if ns_exists "$sw" && [ "$(marker_field "$sw" prefix || true)" != "$p" ]; then
    die "a namespace $sw exists that this script did not make; remove it or use another --prefix"
  fi
  down "$p"

  UP_PREFIX=$p
  trap up_failed EXIT

  for k in $(seq "$n"); do list+="$base.$k"$'\t'"$p$k"$'\n'; done
  # The marker goes into /etc/netns/<ns>/hosts before the namespace is made, so that `down` finds what `up` left.
  write_etc() {
    mkdir -p "$ETC/$1"
    {
      echo "$MARK prefix=$p role=$2 name=$1 hosts=$n subnet=$base.0/24 (written by tools/netns_cluster.sh up)"
      printf '127.0.0.1\tlocalhost\n%s' "$list"
    } >"$ETC/$1/hosts"
    if [ "$2" = host ] && [ -f /etc/hostname ]; then echo "$1" >"$ETC/$1/hostname"; fi
  }
  # IPv6 off (before the veths exist, so `default` covers them): one address family, no router solicitations.
  no_ipv6() {
    [ -d /proc/sys/net/ipv6 ] || return 0
    ip netns exec "$1" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 &&
      echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
  }

  write_etc "$sw" switch
  err=$(ip netns add "$sw" 2>&1) || unable "ip netns add $sw: $err"
  step no_ipv6 "$sw"
  step ip -n "$sw" link set lo up
  err=$(ip -n "$sw" link add "$BRIDGE" type bridge 2>&1) || unable "no bridge support: $err"
  step ip -n "$sw" link set "$BRIDGE" up

  for k in $(seq "$n"); do
    h=$p$k
    addr=$base.$k
    write_etc "$h" host
    step ip netns add "$h"
    step no_ipv6 "$h"
    step ip -n "$h" link set lo up
    # Both ends are made directly in their namespaces: nothing appears in the root namespace, not even for a moment.
    err=$(ip link add "$IFACE" netns "$h" type veth peer name "$h" netns "$sw" 2>&1) || unable "no veth support: $err"
    step ip -n "$sw" link set "$h" master "$BRIDGE"
    step ip -n "$sw" link set "$h" up
    step ip -n "$h" addr add "$addr/24" dev "$IFACE"
    step ip -n "$h" link set "$IFACE" up
    if [ -n "$delay" ]; then
      err=$(ip netns exec "$h" tc qdisc add dev "$IFACE" root netem delay "$delay" ${rate:+rate "$rate"} limit 100000 \
        2>&1) || unable "tc netem on $h: $err (--delay needs the netem qdisc, CONFIG_NET_SCH_NETEM)"
    elif [ -n "$rate" ]; then
      # Bucket: 4 ms at the rate, at least 64 KiB (one GSO packet); at most 50 ms queued.
      burst=$((bytes / 250 > 65536 ? bytes / 250 : 65536))
      err=$(ip netns exec "$h" tc qdisc add dev "$IFACE" root tbf rate "$rate" burst "$burst" latency 50ms 2>&1) ||
        unable "tc tbf on $h: $err (--rate needs the tbf qdisc, CONFIG_NET_SCH_TBF)"
    fi
  done

  # Wait for the links to come up (carrier on both ends).
  for k in $(seq "$n"); do
    for _ in $(seq 50); do
      ip -n "$p$k" link show "$IFACE" | grep -q 'state UP' && break
      sleep 0.1
    done
    ip -n "$p$k" link show "$IFACE" | grep -q 'state UP' || die "$IFACE of $p$k did not come up"
  done
  UP_PREFIX=""
  log "up: hosts ${p}1..$p$n on $base.0/24 (interface $IFACE; bridge $BRIDGE in netns $sw)${rate:+, rate $rate}$(
    )${delay:+, delay $delay}"
}

# The namespace of HOST: its name, user@name, name.domain, or a name/address in the /etc/hosts seen here (inside a
# cluster host that is the cluster's list).
resolve_host() {
  local h=${1#*@} cand
  for cand in "$h" "${h%%.*}"; do
    if [ -n "$cand" ] && [ "$(marker_field "$cand" role 2>/dev/null || true)" = host ]; then echo "$cand"; return 0; fi
  done
  if [ -r /etc/hosts ]; then
    local -a f
    while read -r -a f; do
      [ ${#f[@]} -ge 2 ] && [[ ${f[0]} != \#* ]] || continue
      if [ "${f[0]}" = "$h" ] || [[ " ${f[*]:1} " == *" $h "* ]]; then
        for cand in "${f[@]:1}"; do
          [[ $cand != \#* ]] || break
          if [ "$(marker_field "$cand" role 2>/dev/null || true)" = host ]; then echo "$cand"; return 0; fi
        done
      fi
    done </etc/hosts
  fi
  # An address of a cluster host (e.g. given outside the hosts, where /etc/hosts does not list it).
  for cand in $(awk -v h="$h" 'FNR > 1 && $1 == h { print $2 }' "$ETC"/*/hosts 2>/dev/null); do
    if [ "$(marker_field "$cand" role 2>/dev/null || true)" = host ]; then echo "$cand"; return 0; fi
  done
  return 1
}

cmd_exec() {
  [ $# -ge 1 ] || usage
  # ssh options an ssh-style caller may put before the host name.
  while [ $# -gt 0 ]; do
    case $1 in
      --) shift; break ;;
      -[46AaCfGgKkMNnqsTtVvXxYy]*) shift ;;
      -[bcDEeFIiJLlmOopQRSWw]) [ $# -ge 2 ] || usage; shift 2 ;;
      -*) shift ;;
      *) break ;;
    esac
  done
  [ $# -ge 1 ] || usage
  local host=$1 ns
  shift
  ns=$(resolve_host "$host") || { log "unknown host '$host' (not a host made by tools/netns_cluster.sh up)"; exit 255; }
  ns_exists "$ns" || { log "host '$host': its namespace $ns is gone (run up again)"; exit 255; }
  local sh=/bin/bash
  [ -x "$sh" ] || sh=/bin/sh
  if [ $# -eq 0 ]; then
    # No command: an interactive shell, like ssh.
    exec ip netns exec "$ns" unshare --uts "$sh" -c 'hostname "$1" || exit 255; exec "$2" -i' "$PROG" "$ns" "$sh"
  fi
  # Like ssh: the remote command is the args joined with spaces, run by the shell (Open MPI's plm_rsh relies on it:
  # it passes "PATH=...; export PATH; ... orted ..." and the orted args as separate words).
  exec ip netns exec "$ns" unshare --uts "$sh" -c 'hostname "$1" || exit 255; exec "$2" -c "$3"' \
    "$PROG" "$ns" "$sh" "$*"
}

cmd_ip() {
  [ $# -eq 1 ] || usage
  local ns
  ns=$(resolve_host "$1") || die "unknown host '$1'"
  awk -v h="$ns" '!/^#/ && $2 == h { print $1; exit }' "$ETC/$ns/hosts"
}

# Random loss on one host's link, both ways: an nftables table "netns_cluster" in the host's namespace (gone with it).
cmd_loss() {
  [ $# -eq 2 ] || usage
  local ns pct per_mille
  ns=$(resolve_host "$1") || die "unknown host '$1'"
  pct=$2
  [[ $pct =~ ^[0-9]+(\.[0-9])?$ ]] && awk -v p="$pct" 'BEGIN { exit !(p <= 100) }' ||
    die "bad loss '$pct': a percentage from 0 to 100, at most one decimal (e.g. 2 or 0.5)"
  command -v nft >/dev/null || unable "'nft' not found (apt-get install nftables)"
  per_mille=$(awk -v p="$pct" 'BEGIN { printf "%d", p * 10 + 0.5 }')
  ip netns exec "$ns" nft delete table inet netns_cluster 2>/dev/null || true
  [ "$per_mille" -gt 0 ] || return 0
  ip netns exec "$ns" nft -f - <<EOF || unable "nftables in $ns: the kernel needs nf_tables with numgen"
table inet netns_cluster {
  chain out { type filter hook output priority 0; oifname "$IFACE" numgen random mod 1000 < $per_mille drop; }
  chain in { type filter hook input priority 0; iifname "$IFACE" numgen random mod 1000 < $per_mille drop; }
}
EOF
  log "loss: $ns drops $pct% of what $IFACE sends and receives"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
  exec) cmd_exec "$@" ;;
  ip) cmd_ip "$@" ;;
  loss) cmd_loss "$@" ;;
  up | down | hosts)
    n="" rate="" delay="" prefix=node
    if [ "$cmd" = up ]; then
      [ $# -ge 1 ] || usage
      n=$1
      shift
    fi
    while [ $# -gt 0 ]; do
      case $1 in
        --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#*=}; shift ;;
        --rate) [ "$cmd" = up ] && [ $# -ge 2 ] || usage; rate=$2; shift 2 ;;
        --rate=*) [ "$cmd" = up ] || usage; rate=${1#*=}; shift ;;
        --delay) [ "$cmd" = up ] && [ $# -ge 2 ] || usage; delay=$2; shift 2 ;;
        --delay=*) [ "$cmd" = up ] || usage; delay=${1#*=}; shift ;;
        --subnet) [ "$cmd" = up ] && [ $# -ge 2 ] || usage; SUBNET=$2; shift 2 ;;
        --subnet=*) [ "$cmd" = up ] || usage; SUBNET=${1#*=}; shift ;;
        *) usage ;;
      esac
    done
    check_prefix "$prefix"
    case $cmd in
      up) up "$n" "$prefix" "$rate" "$delay" ;;
      down)
        [ "$EUID" -eq 0 ] || unable "must run as root (network namespaces)"
        command -v ip >/dev/null || unable "'ip' not found (apt-get install iproute2)"
        down "$prefix"
        ;;
      hosts) cluster_hosts "$prefix" ;;
    esac
    ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *)
    # Called as an ssh (`netns_cluster.sh [ssh options] HOST CMD...`): exec. This gives Open MPI an agent without a
    # space (plm_rsh_agent=/path/netns_cluster.sh), which survives being passed through `exec` to a host's mpirun.
    if [[ $cmd == -* ]] || resolve_host "$cmd" >/dev/null; then
      cmd_exec "$cmd" "$@"
    fi
    log "unknown command or host '$cmd'"
    usage
    ;;
esac
