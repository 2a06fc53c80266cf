#!/usr/bin/env bash
# TAO specs through kiln, end to end (docs/migrating_from_tao.md's worked example): a TAO dataset_convert spec and a
# TAO DetectNet_v2 training spec, written in TAO's format for the synthetic KITTI scenes, are converted with
# `kiln spec import`; the converted convert spec writes the shards, and the converted experiment validates with no
# note and trains (2 epochs, validation on fold 0) to a model file, with the TensorBoard events its visualizer block
# asks for.
# Usage: roundtrip_test.sh KILN_BIN SOURCE_DIR WORK_DIR
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
[ $# -eq 3 ] || { echo "usage: $0 KILN_BIN SOURCE_DIR WORK_DIR" >&2; exit 2; }
KILN=$1 SRC=$2 WORK=$3
TAO=$SRC/specs/samples/tao
source "$SRC/tests/support/outer_job_env.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"  # the TAO samples' paths are relative to where the converted specs are written, as in the guide

run() {  # run LOG CMD...: the command's output in LOG, shown when it fails
  local log=$1
  shift
  echo "+ $*"
  "$@" >"$log" 2>&1 || { tail -n 40 "$log" >&2; fail "$* failed"; }
}

# Bad input through the CLI: exit 2, file:line:column, nothing written.
printf 'model_config {\n  arch: "resnet"\n  n_layyers: 18\n}\n' >"$WORK/bad.txt"
rc=0
"$KILN" spec import "$WORK/bad.txt" -o "$WORK/bad.yaml" >"$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || { cat "$WORK/bad.log" >&2; fail "a TAO spec with an unknown key exited $rc, expected 2"; }
grep -q "bad.txt:3:3: model_config.n_layyers: unknown key 'n_layyers'" "$WORK/bad.log" || fail "no file:line:column"
[ ! -e "$WORK/bad.yaml" ] || fail "a failed import wrote $WORK/bad.yaml"

run "$WORK/synth.log" "$KILN" dataset synth_kitti -o data/tao_synth --images 60 --seed 3 --val-fraction 0.1

cp "$TAO/detectnet_v2_synth_convert.txt" "$WORK/convert.txt"
run "$WORK/import_convert.log" "$KILN" spec import "$WORK/convert.txt" -o "$WORK/convert.yaml"
rc=0
"$KILN" spec import "$WORK/convert.txt" -o "$WORK/convert.yaml" >"$WORK/again.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "exists; --force replaces it" "$WORK/again.log" || fail "an existing -o file was not kept"
run "$WORK/import_force.log" "$KILN" spec import "$WORK/convert.txt" -o "$WORK/convert.yaml" --force
cat "$WORK/import_convert.log"
grep -q "TAO detectnet_v2 convert spec" "$WORK/import_convert.log" || fail "not read as a convert spec"
! grep -q '^note:' "$WORK/import_convert.log" || fail "kiln's validation has notes on the converted convert spec"
run "$WORK/convert.log" "$KILN" detectnet_v2 dataset_convert -d "$WORK/convert.yaml" -o data/tao_synth_shards
grep -E "fold|total" "$WORK/convert.log" | head -n 5 || true

cp "$TAO/detectnet_v2_synth_train.txt" "$WORK/train.txt"
run "$WORK/import_train.log" "$KILN" spec import "$WORK/train.txt" -o "$WORK/train.yaml"
tail -n 3 "$WORK/import_train.log"
! grep -q '^note:' "$WORK/import_train.log" || { cat "$WORK/import_train.log" >&2; fail "the converted experiment has notes"; }
grep -q "unsupported" "$WORK/import_train.log" && fail "a key of the synthetic TAO spec was not carried over"
grep -q 'shards: "data/tao_synth_shards"' "$WORK/train.yaml" || fail "the TFRecords glob did not become the shards folder"

run "$WORK/train.log" "$KILN" detectnet_v2 train -e "$WORK/train.yaml" -r "$WORK/results" --num_threads 2
grep -E "Execution status|mAP" "$WORK/train.log" | tail -n 3
grep -q "Execution status: PASS" "$WORK/train.log" || fail "training on the converted spec did not pass"
[ -s "$WORK/results/model.kiln" ] || fail "no model.kiln"

# The imported visualizer block: TensorBoard events with the epoch's mAP and 2 sample scenes a epoch, read back by an
# independent reader (TFRecord CRCs, protobuf wire decode).
events=$(ls "$WORK/results"/events.out.tfevents.* 2>/dev/null | head -n1)
[ -n "$events" ] || fail "no TensorBoard event file in $WORK/results"
/usr/bin/python3 "$SRC/tests/support/tfevents.py" "$events" >"$WORK/events.jsonl" || fail "unreadable $events"
images=$(grep -c '"png_signature_ok": true' "$WORK/events.jsonl" || true)
[ "$images" = 4 ] || fail "expected 4 sample images (2 scenes x 2 epochs) in $events, found $images"
grep -q '"tag": "epoch/mAP"' "$WORK/events.jsonl" || fail "no epoch/mAP in $events"
grep -q '"tag": "loss"' "$WORK/events.jsonl" || fail "no running loss in $events"
echo "ok: $events holds the running loss, epoch/mAP and $images sample images"
run "$WORK/export.log" "$KILN" detectnet_v2 export -m "$WORK/results/model.kiln" -o "$WORK/results/model.onnx"
grep -E "onnxruntime|Execution status" "$WORK/export.log" | tail -n 2
echo "PASS: TAO specs imported, converted, validated, trained and exported"
