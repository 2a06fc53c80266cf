#!/usr/bin/env bash
# A private single-node Slurm cluster for tests (docs/slurm.md): own munged and key, slurmctld and slurmd, all state
# under DIR. Needs root and the Debian packages slurm-wlm + munge (setup.sh installs them); no systemd.
#
#   tools/slurm_local.sh start DIR     start (stopping leftovers from the same DIR first); waits until the node is idle
#   tools/slurm_local.sh stop DIR      stop the daemons started from DIR (by their pid files, never by name)
#   tools/slurm_local.sh env DIR       print `export SLURM_CONF=DIR/slurm.conf`
#
# Then: SLURM_CONF=DIR/slurm.conf srun -n 2 hostname
# Knobs: SLURM_LOCAL_CPUS (default 4; the node's CPUs, more than the machine has is fine), SLURM_LOCAL_TIMEOUT (30 s).
set -euo pipefail

usage() { echo "usage: $0 start|stop|env DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
CONF=$DIR/slurm.conf
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-30}
CPUS=${SLURM_LOCAL_CPUS:-4}
HOST=$(hostname -s)
# The pid files, in the order the daemons are stopped.
PIDFILES=("$DIR/run/slurmd.pid" "$DIR/run/slurmctld.pid" "$DIR/run/munged.pid")

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

stop_all() {
  local f
  for f in "${PIDFILES[@]}"; do stop_pidfile "$f"; done
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
# Written by tools/slurm_local.sh: a private single-node cluster, everything under $DIR.
ClusterName=kilnlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.sock
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
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
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
}

start() {
  need munged; need slurmctld; need slurmd; need sinfo
  [ "$(id -u)" -eq 0 ] || { log "must run as root (SlurmUser=root, slurmd)"; exit 1; }
  stop_all
  rm -rf "$DIR/state" "$DIR/spool" "$DIR/log"
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

  slurmctld -i -f "$CONF" >>"$DIR/log/slurmctld.log" 2>&1 || { log "slurmctld did not start"; show_logs; stop_all; exit 1; }
  slurmd -f "$CONF" >>"$DIR/log/slurmd.log" 2>&1 || { log "slurmd did not start"; show_logs; stop_all; exit 1; }

  local deadline=$((SECONDS + TIMEOUT)) state=""
  while ((SECONDS < deadline)); do
    state=$(SLURM_CONF=$CONF sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)
    if [ "$state" = "idle" ]; then
      log "up: node $HOST idle ($CPUS CPUs); export SLURM_CONF=$CONF"
      return 0
    fi
    sleep 0.2
  done
  log "node $HOST not idle after ${TIMEOUT}s (state '${state}')"
  SLURM_CONF=$CONF sinfo -N -l >&2 2>&1 || true
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
