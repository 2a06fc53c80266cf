#!/usr/bin/env bash
# A host lost for good (torchrun's --nnodes MIN:MAX): a job over 3 hosts, 1 rank each, with --max_restarts 2
# --nnodes 2:3. Mid-training the third host's link goes down and stays down: the job fails (that rank falls silent),
# the launcher's probe finds the host does not answer and leaves it out, and the job resumes from its checkpoint on
# the 2 hosts that remain and completes. status.json and the log say which host went and why.
source "$(dirname "$0")/common.sh"

cluster_up 3
h1=${HOSTS[0]} h2=${HOSTS[1]} h3=${HOSTS[2]}
cluster_yaml "$WORK/cluster.yaml" 1 "$h1" "$h2" "$h3"
out=$WORK/out
on "$h1" "$KILN" classification train -e "$SPEC" -r "$out" -c "$WORK/cluster.yaml" --max_restarts 2 --nnodes 2:3 \
  train_config.n_epochs=3 train_config.batch_size_per_gpu=16 train_config.checkpoint_interval_steps=40 \
  dataset_config.train.max_samples=6000 dataset_config.val.max_samples=200 >"$WORK/job.log" 2>&1 &
job=$!
deadline=$((SECONDS + 120))
until [ -e "$out/checkpoints/latest" ]; do
  kill -0 "$job" 2>/dev/null || { tail -n 30 "$WORK/job.log" >&2; fail "the job ended before its first checkpoint"; }
  ((SECONDS < deadline)) || fail "no checkpoint after 120 s"
  sleep 0.1
done
echo "+ ip link set eth0 down on $h3 (for good)"
ip netns exec "$h3" ip link set eth0 down
code=0
wait "$job" || code=$?
grep -E 'WARNING (restart|host|.* host\(s\) left out)|Launching|Execution status' "$WORK/job.log" || true
[ "$code" = 0 ] || { tail -n 40 "$WORK/job.log" >&2; fail "the job exited $code, expected 0 (completed on 2 hosts)"; }
grep -q "restart 1 of 2 after: rank 2 (host $h3)" "$WORK/job.log" || fail "the restart does not name rank 2 on $h3"
grep -q "host $h3 is left out: it does not answer" "$WORK/job.log" || fail "$h3 was not left out as silent"
grep -q "the job goes on with 2 host(s), 2 rank(s)" "$WORK/job.log" || fail "the job did not go on with 2 hosts"
grep -q "mpirun -np 2 --host $h1:1,$h2:1 " "$WORK/job.log" || fail "the relaunch is not on $h1 and $h2"
grep -q "this run is 2 rank(s)" "$WORK/job.log" || fail "the resumed run does not say its world shrank"
[ "$(grep -c 'Execution status: PASS' "$WORK/job.log")" = 1 ] || fail "no single PASS"
grep -q "\"left_out\"" "$out/status.json" || fail "status.json does not record the host left out"
world=$(model_meta "$out/model.kiln" world_size) epochs=$(model_meta "$out/model.kiln" epoch) ||
  fail "cannot read $out/model.kiln"
echo "model.kiln: world_size $world, epochs $epochs"
[ "$world" = 2 ] && [ "$epochs" = 3 ] || fail "model.kiln was not trained to the end on 2 ranks"
echo "PASS: a host lost for good is left out and the job completes on the rest"
