#!/usr/bin/env bash
# Faults across hosts, once each (bench/netns_faults.sh runs them 20 times for docs/benchmarks.md): a 2-host job
# whose second host's rank is SIGKILLed, SIGSTOPped, cut off (its link down) or loses every process at once. Each
# time the job ends with exit 4, one line names the rank, its host and its step, no process of the job is left on
# either host, and the last checkpoint loads. (How fast is measured by the bench, not asserted here; a job still
# running a minute after the fault counts as hung.)
source "$(dirname "$0")/common.sh"

rc=0
bash "$SRC/bench/netns_faults.sh" "$KILN" "$WORK" 1 >"$WORK/faults.csv" 2>"$WORK/faults.err" || rc=$?
[ "$rc" -ne 77 ] || skip "$(tail -n1 "$WORK/faults.err")"
cat "$WORK/faults.csv"
[ "$rc" -eq 0 ] || { cat "$WORK/faults.err" >&2; fail "bench/netns_faults.sh failed"; }
for f in kill stop link host; do
  line=$(grep "^$f,1," "$WORK/faults.csv") || fail "no result for fault '$f'"
  IFS=, read -r _ _ code secs named loads <<<"$line"
  [ "$code" = 4 ] || { tail -n 20 "$WORK/$f-1.log" >&2; fail "$f: the job exited $code, expected 4"; }
  [ "$secs" != never ] || fail "$f: processes of the job were still running a minute after the fault"
  [ "$named" = yes ] || { tail -n 20 "$WORK/$f-1.log" >&2; fail "$f: no line names rank 1, its host and step"; }
  [ "$loads" = yes ] || { cat "$WORK/$f-1.eval.log" >&2; fail "$f: the last checkpoint does not load"; }
  echo "ok: $f: exit 4, named, all gone after $secs s, the last checkpoint loads"
done
echo "PASS: faults across hosts"
