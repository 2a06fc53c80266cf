# Slurm job helpers shared by the Slurm tests (tests/slurm, on this host) and the multi-host ones (tests/multinode,
# from a login node in a namespace). Sourced after the suite's common.sh, which defines fail. Each suite says how a
# Slurm client command reaches its cluster by defining slurm_cmd, e.g. `slurm_cmd() { "$@"; }` on this host.

# job_record JOB: the job's line from `scontrol -o show job`; empty once Slurm forgot it (MinJobAge). A query that
# fails for another reason (the controller busy or restarting) is asked again for up to 30 s: an empty answer must
# mean the job is gone, never that slurmctld was slow to reply.
job_record() {
  local out deadline=$((SECONDS + 30))
  until out=$(slurm_cmd scontrol -o show job "$1" 2>&1); do
    grep -q 'Invalid job id' <<<"$out" && return 0
    ((SECONDS < deadline)) || fail "scontrol show job $1 keeps failing: $out"
    sleep 0.5
  done
  printf '%s\n' "$out"
}

# job_field JOB FIELD: one field of the job's record (JobState, Restarts, ...); empty once Slurm forgot the job.
job_field() {
  local record
  record=$(job_record "$1") || exit 1
  grep -o "\b$2=[^ ]*" <<<"$record" | head -n1 | cut -d= -f2 || true
}

# wait_for_job JOB SECONDS: until the job has ended (a final JobState, or forgotten by Slurm); cancelled and failed
# after SECONDS. The states it passed through are printed, e.g. "job 5: PENDING RUNNING COMPLETED".
wait_for_job() {
  local job=$1 deadline=$((SECONDS + $2)) state seen=""
  while :; do
    state=$(job_field "$job" JobState)
    [ "$state" = "${seen##* }" ] || seen="$seen $state"
    case $state in
      "" | COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
        echo "job $job:$seen"
        return 0 ;;
    esac
    if ((SECONDS > deadline)); then
      slurm_cmd scancel "$job" || true
      fail "job $job has not ended after $2 s (states:$seen)"
    fi
    sleep 1
  done
}

# warn_and_requeue JOB LOG: once the job's LOG says it trains, sends it what `--signal=B:USR1@N` sends before a time
# limit (scancel --signal=USR1 --batch); waits until the job is back in the queue (Restarts=1, PENDING), lets it
# start now rather than after Slurm's requeue delay (cred_expire, 120 s by default), and waits for it to end.
warn_and_requeue() {
  local job=$1 log=$2 deadline=$((SECONDS + 300))
  until grep -qs 'First training step done' "$log"; do
    ((SECONDS < deadline)) || { slurm_cmd scancel "$job"; fail "job $job did not start training in 300 s"; }
    [ -n "$(job_field "$job" JobState)" ] || fail "job $job vanished before it trained"
    sleep 0.1
  done
  echo "+ scancel --signal=USR1 --batch $job   (what Slurm sends grace_seconds before the time limit)"
  slurm_cmd scancel --signal=USR1 --batch "$job" || fail "scancel --signal=USR1 --batch $job failed"
  deadline=$((SECONDS + 120))
  until [ "$(job_field "$job" Restarts)" = 1 ] && [ "$(job_field "$job" JobState)" = PENDING ]; do
    ((SECONDS < deadline)) || { slurm_cmd scancel "$job"; fail "job $job was not requeued ($(job_field "$job" JobState))"; }
    sleep 0.2
  done
  echo "job $job requeued (Restarts=1, PENDING)"
  slurm_cmd scontrol update JobId="$job" StartTime=now || fail "scontrol update JobId=$job StartTime=now failed"
  wait_for_job "$job" 300
}

# expect_requeued_and_resumed JOB LOG: the job's LOG tells the whole story (the ranks stopped on USR1 with a
# checkpoint, the script requeued the job, the requeued job resumed from it and passed) and it ended COMPLETED.
# Whatever fails, the requeued run's own output (all that follows the requeue line) and Slurm's record are shown.
expect_requeued_and_resumed() {
  local job=$1 log=$2 state record requeued="kiln: job $1 stopped at a checkpoint before its time limit; requeueing it"
  record=$(job_record "$job")
  state=$(grep -o '\bJobState=[^ ]*' <<<"$record" | cut -d= -f2 || true)
  [ -f "$log" ] || fail "job $job (${state:-forgotten}) wrote no $log"
  echo "----- $log (the lines that tell the story)"
  grep -E 'interrupted by signal|requeueing|Resuming from|Execution status' "$log" || true
  grep -q 'interrupted by signal 10 (SIGUSR1) after step' "$log" || fail "$log: the ranks did not stop on USR1"
  grep -qF "$requeued" "$log" || fail "$log: the script did not requeue the job"
  local after
  after=$(sed -n "\|$requeued|,\$p" "$log" | tail -n +2)
  resumed_fail() {
    { echo "----- what the requeued job printed ($log, after the requeue line)"; tail -n 60 <<<"$after"
      echo "----- scontrol show job $job"; tr ' ' '\n' <<<"$record" | grep -E '^(JobState|Reason|ExitCode|Restarts|RunTime)='
    } >&2
    fail "$*"
  }
  grep -q 'Resuming from' <<<"$after" || resumed_fail "$log: the requeued job (${state:-forgotten}) did not resume from the checkpoint"
  grep -q 'Execution status: PASS' <<<"$after" || resumed_fail "$log: the requeued job did not pass"
  [ "$state" = COMPLETED ] || resumed_fail "job $job ended in state '${state:-forgotten}', expected COMPLETED"
}
