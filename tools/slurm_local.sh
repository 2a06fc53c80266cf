#!/usr/bin/env bash
# A private Slurm cluster for tests (docs/slurm.md): own munged and key, slurmctld and slurmd, all state under DIR.
# Needs root and the Debian packages slurm-wlm + munge (setup.sh installs them); no systemd.
#
#   tools/slurm_local.sh start DIR [--netns P]  start (stopping leftovers from the same DIR first); waits until every
#                                      node is idle
#   tools/slurm_local.sh stop DIR      stop the daemons started from DIR (by their pid files, never by name)
#   tools/slurm_local.sh env DIR       print `export SLURM_CONF=DIR/slurm.conf`
#
# Then: SLURM_CONF=DIR/slurm.conf srun -n 2 hostname
# Single-node (the default): this host is the controller and the one node. --netns P: across the hosts of
# tools/netns_cluster.sh with prefix P (made beforehand): slurmctld runs on the first (a login node), one slurmd on
# each of the others (NodeName = the host's name, spool, log and pid file per node), all with the default ports in
# their own network stacks; munged's socket is a file, shared by all. Commands must then run on a host:
#   tools/netns_cluster.sh exec P2 "SLURM_CONF=DIR/slurm.conf srun -N 2 hostname"
# Knobs: SLURM_LOCAL_CPUS (default 4; the node's CPUs, more than the machine has is fine), SLURM_LOCAL_TIMEOUT (30 s).
set -euo pipefail

usage() { echo "usage: $0 start|stop|env DIR [--netns PREFIX]" >&2; exit 2; }
[ $# -eq 2 ] || { [ $# -eq 4 ] && [ "$3" = --netns ]; } || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
NETNS=${4:-}
NC=$(cd "$(dirname "$0")" && pwd)/netns_cluster.sh
CONF=$DIR/slurm.conf
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-30}
CPUS=${SLURM_LOCAL_CPUS:-4}
HOST=$(hostname -s)
CTL=$HOST CTL_ADDR=127.0.0.1 NODES=("$HOST")
if [ -n "$NETNS" ] && [ "$cmd" = start ]; then
  mapfile -t hosts < <("$NC" hosts --prefix "$NETNS")
  ((${#hosts[@]} >= 2)) ||
    { echo "slurm_local: --netns $NETNS: make 2 or more hosts first (netns_cluster.sh up N --prefix $NETNS)" >&2; exit 1; }
  CTL=${hosts[0]} CTL_ADDR=$("$NC" ip "${hosts[0]}") NODES=("${hosts[@]:1}")
fi

log() { echo "slurm_local: $*" >&2; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# Stops the process in a pid file (if it is still running): SIGTERM, then SIGKILL after 10 s.
stop_pidfile() {
  local file=$1 pid=""
  [ -f "$file" ] || return 0
  pid=$(tr -dc '0-9' <"$file" || true)
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      log "$(basename "$file" .pid) (pid $pid) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$file"
}

# In the order the daemons are stopped: the slurmds (one per node), slurmctld, munged.
stop_all() {
  local f
  for f in "$DIR"/run/slurmd*.pid "$DIR/run/slurmctld.pid" "$DIR/run/munged.pid"; do stop_pidfile "$f"; done
}

# on HOST CMD...: CMD on HOST (this machine when not --netns).
on() {
  local host=$1
  shift
  if [ -z "$NETNS" ]; then "$@"; else "$NC" exec "$host" "$(printf '%q ' "$@")"; fi
}

show_logs() {
  local f
  for f in "$DIR"/log/*.log; do
    [ -f "$f" ] || continue
    echo "----- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$1" ] && return 0
  log "$1 not found: install slurm-wlm and munge (./setup.sh does)"
  exit 1
}

write_conf() {
  cat >"$CONF" <<EOF
# Written by tools/slurm_local.sh: a private cluster, everything under $DIR.
ClusterName=kilnlocal
SlurmctldHost=$CTL($CTL_ADDR)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.sock
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
TmpFS=$DIR/tmp/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=30
InactiveLimit=0
Waittime=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
EOF
  local n addr list
  for n in "${NODES[@]}"; do
    addr=127.0.0.1
    [ -z "$NETNS" ] || addr=$("$NC" ip "$n")
    echo "NodeName=$n NodeAddr=$addr CPUs=$CPUS State=UNKNOWN" >>"$CONF"
  done
  list=$(IFS=,; echo "${NODES[*]}")
  echo "PartitionName=debug Nodes=$list Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES" >>"$CONF"
}

start() {
  need munged; need slurmctld; need slurmd; need sinfo
  [ "$(id -u)" -eq 0 ] || { log "must run as root (SlurmUser=root, slurmd)"; exit 1; }
  stop_all
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/tmp"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
  chmod 700 "$DIR/run"
  write_conf

  # munge: a fresh key for this cluster, and a socket nobody else uses.
  if [ ! -s "$DIR/munge.key" ]; then
    ( umask 077; head -c 1024 /dev/urandom >"$DIR/munge.key" )
  fi
  chmod 600 "$DIR/munge.key"
  rm -f "$DIR/munge.sock" "$DIR/munge.sock.lock"
  # --force: run as root, and accept a key/socket directory that munged finds too open (e.g. /tmp parents).
  munged --force -S "$DIR/munge.sock" --key-file="$DIR/munge.key" --pid-file="$DIR/run/munged.pid" \
    --log-file="$DIR/log/munged.log" --seed-file="$DIR/run/munged.seed" >>"$DIR/log/munged.log" 2>&1 || {
    log "munged did not start"; show_logs; exit 1; }

  on "$CTL" slurmctld -i -f "$CONF" >>"$DIR/log/slurmctld.log" 2>&1 ||
    { log "slurmctld did not start"; show_logs; stop_all; exit 1; }
  local n
  for n in "${NODES[@]}"; do
    mkdir -p "$DIR/spool/$n" "$DIR/tmp/$n"  # TmpFS per node: PMIx keeps each step's files there
    # `ip netns exec` mounts a fresh /sys, where slurmd 22.05 finds no cgroup file system and refuses to start (even
    # with proctrack/pgid and task/none, which use none): it gets what it looks for, the systemd hierarchy of cgroup
    # v1 on a tmpfs, in that host's mount namespace only.
    local cg="mount -t tmpfs -o mode=755 kiln-cgroup /sys/fs/cgroup && mkdir /sys/fs/cgroup/systemd &&
      mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd && "
    on "$n" sh -c "${NETNS:+$cg}exec slurmd -N $n -f $CONF" \
      >>"$DIR/log/slurmd.$n.log" 2>&1 ||
      { log "slurmd did not start on $n"; show_logs; stop_all; exit 1; }
  done

  local deadline=$((SECONDS + TIMEOUT)) states="" idle
  idle=$(printf 'idle %.0s' "${NODES[@]}")
  while ((SECONDS < deadline)); do
    states=$(on "$CTL" env SLURM_CONF="$CONF" sinfo -h -N -o '%T' 2>/dev/null | tr '\n' ' ' || true)
    if [ "$states" = "$idle" ]; then
      log "up: node(s) ${NODES[*]} idle ($CPUS CPUs each), controller $CTL; export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.2
  done
  log "node(s) ${NODES[*]} not all idle after ${TIMEOUT}s (states: ${states})"
  on "$CTL" env SLURM_CONF="$CONF" sinfo -N -l >&2 2>&1 || true
  show_logs
  stop_all
  exit 1
}

case $cmd in
  start) start ;;
  stop) stop_all; log "stopped ($DIR)" ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) usage ;;
esac
