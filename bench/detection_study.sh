#!/usr/bin/env bash
# DetectNet_v2 on the synthetic Fashion-MNIST scenes: the figures of docs/detection.md §6.
#   bench/detection_study.sh accuracy OUT     synth_kitti scenes -> dataset_convert -> train (2 ranks, timed)
#                                              -> evaluate; prints the wall time and the per-class AP table
#   bench/detection_study.sh speed [ROUNDS]   training images/s, interleaved ROUNDS times (default 2), best kept:
#                                              kiln 1 rank x 2 threads, kiln 2 ranks x 1 thread, and the same
#                                              network, cost and optimizer in plain PyTorch (bench/py_detectnet_train.py,
#                                              compute only) as 1 process x 2 threads and DDP 2 x 1 (gloo)
# Environment: KILN (the binary), SPEC (default specs/samples/detectnet_v2_synth.yaml), DATA (scenes and shards,
# default data/ in the repository), IMAGES (5500), VAL_FRACTION (0.0909: 500 of 5500), SEED (1), RANKS (2),
# SPEED_IMAGES (images per speed run, 960). Extra arguments after OUT are passed to train as spec overrides.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
kiln=${KILN:-$root/build/kiln}
spec=${SPEC:-$root/specs/samples/detectnet_v2_synth.yaml}
data=${DATA:-$root/data}
images=${IMAGES:-5500}; val_fraction=${VAL_FRACTION:-0.0909}; seed=${SEED:-1}; ranks=${RANKS:-2}
mode=${1:?mode: accuracy OUT | speed [ROUNDS]}; shift
sources=("dataset_config.data_sources=[{shards: $data/synth_shards/train}]"
         "dataset_config.validation_data_source.shards=$data/synth_shards/val")
py=/usr/bin/python3

prepare_data() {  # scenes and shards, unless they are there already
  if [ ! -d "$data/synth/train" ]; then
    "$kiln" dataset synth_kitti -o "$data/synth" --images "$images" --seed "$seed" --val-fraction "$val_fraction" \
      | tail -n 4 >&2
  fi
  local convert=$root/specs/samples/detectnet_v2_convert_synth.yaml part
  for part in train val; do
    [ -f "$data/synth_shards/$part/index.json" ] && continue
    "$kiln" detectnet_v2 dataset_convert -d "$convert" -o "$data/synth_shards/$part" \
      kitti_config.root_directory_path="$data/synth/$part" | tail -n 2 >&2
  done
}

accuracy() {
  local out=${1:?results folder}; shift
  prepare_data
  mkdir -p "$out"
  local launch=(); [ "$ranks" -gt 1 ] && launch=(--num_processes "$ranks")
  local start=$SECONDS
  "$kiln" detectnet_v2 train -e "$spec" -r "$out/train" "${launch[@]}" "${sources[@]}" "$@" >"$out/train.log" 2>&1 ||
    { tail -n 30 "$out/train.log" >&2; exit 1; }
  local train_s=$((SECONDS - start))
  "$kiln" detectnet_v2 evaluate -e "$spec" -m "$out/train/model.kiln" -r "$out/evaluate" "${sources[@]}" "$@" \
    >"$out/evaluate.log" 2>&1 || { tail -n 30 "$out/evaluate.log" >&2; exit 1; }
  echo "training: $ranks rank(s), $(printf '%d min %02d s' $((train_s / 60)) $((train_s % 60))) wall clock" \
       "(command start to model written, validation included)"
  $py - "$out/evaluate/evaluation/metrics.json" "$out/train/training_history.csv" <<'EOF'
import csv, json, sys
m = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
print(f"epochs: {len(rows)}, training images/s (mean over epochs): "
      f"{sum(float(r['images_per_s']) for r in rows) / len(rows):.1f}\n")
print("| class | AP@0.5 | objects | detections | true positives |\n|---|---|---|---|---|")
for c in m["classes"]:
    print(f"| {c['name']} | {c['ap']:.4f} | {c['ground_truth']} | {c['detections']} | {c['true_positives']} |")
print(f"| **mAP** | **{m['mAP']:.4f}** | | | |")
EOF
}

speed() {
  local rounds=${1:-2} n=${SPEED_IMAGES:-960}
  prepare_data
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  # kiln: one epoch over n images (no validation); images/s from training_history.csv (the training loop's time)
  kiln_run() {
    local out=$work/k$RANDOM
    "$kiln" detectnet_v2 train -e "$spec" -r "$out" "$@" "${sources[@]}" dataset_config.max_samples="$n" \
      training_config.num_epochs=1 evaluation_config.first_validation_epoch=1000 >"$out.log" 2>&1 ||
      { cat "$out.log" >&2; exit 1; }
    tail -n 1 "$out/training_history.csv" | cut -d, -f6
  }
  py_run() { $py "$root/bench/py_detectnet_train.py" --threads 2 --steps $((n / 16)) | json; }
  ddp_run() {  # 2 ranks with the torchrun env contract, started by hand (Debian's torchrun 1.13 breaks on Python 3.11)
    local port=$((20000 + RANDOM % 20000)) r pids=()
    for r in 0 1; do
      RANK=$r LOCAL_RANK=$r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port OMP_NUM_THREADS=1 \
        $py "$root/bench/py_detectnet_train.py" --threads 1 --steps $((n / 32)) >"$work/ddp$r.out" & pids+=($!)
    done
    for r in "${pids[@]}"; do wait "$r"; done
    json <"$work/ddp0.out"
  }
  json() { $py -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_s"])'; }
  best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
  local k1=() k2=() p1=() p2=()
  for ((i = 0; i < rounds; i++)); do
    k1+=("$(kiln_run --num_threads 2)"); k2+=("$(kiln_run --num_processes 2)")
    p1+=("$(py_run)"); p2+=("$(ddp_run)")
  done
  join() { local IFS=,; echo "$*"; }
  echo "{\"kiln_1x2\": [$(join "${k1[@]}")], \"kiln_2x1\": [$(join "${k2[@]}")], \"py_1x2\": [$(join "${p1[@]}")], \"py_ddp_2x1\": [$(join "${p2[@]}")]}" >&2
  local a b c d
  a=$(best "${k1[@]}"); b=$(best "${k2[@]}"); c=$(best "${p1[@]}"); d=$(best "${p2[@]}")
  echo "| | 1 rank x 2 threads | 2 ranks x 1 thread | 2 ranks / 1 rank |"
  echo "|---|---|---|---|"
  printf '| kiln (decode, augment, rasterise, train) | %.1f | %.1f | %.2f× |\n' "$a" "$b" "$($py -c "print($b/$a)")"
  printf '| PyTorch (compute only) | %.1f | %.1f | %.2f× |\n' "$c" "$d" "$($py -c "print($d/$c)")"
  printf '| kiln / PyTorch | %.2f× | %.2f× | |\n' "$($py -c "print($a/$c)")" "$($py -c "print($b/$d)")"
}

case $mode in
  accuracy) accuracy "$@" ;;
  speed) speed "$@" ;;
  *) echo "unknown mode '$mode' (accuracy | speed)" >&2; exit 2 ;;
esac
