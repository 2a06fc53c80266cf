#!/usr/bin/env bash
# Prune study: train a network on Fashion-MNIST, then for each threshold prune it, evaluate the pruned model as it
# is, retrain it (train -m pruned.kiln, TAO's way) and evaluate again. Prints a Markdown table of parameters and
# test accuracy (all 10,000 test images) before pruning, after pruning and after retraining.
#   bench/prune_study.sh NETWORK OUT [THRESHOLDS...]
#     NETWORK: resnet18 | mobilenet_v2        OUT: results folder (reruns reuse finished stages)
#     THRESHOLDS: -pth values (max normaliser); "none" adds the control row: the unpruned model retrained the same
#     way, so extra epochs are not mistaken for recovery
#   Environment: SAMPLES (training images, default 30000), EPOCHS (3), RETRAIN_EPOCHS (2), RETRAIN_LR (0.02),
#                NF (-nf, default 8), PG (-pg, default 8), RANKS (--num_processes, default 1),
#                VAL_SAMPLES (test images evaluated, default 0 = all 10,000; for smoke runs), KILN (the binary)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
kiln=${KILN:-$root/build/kiln}
spec=$root/bench/specs/prune_study.yaml
net=${1:?network: resnet18 | mobilenet_v2}; out=${2:?results folder}; shift 2
thresholds=("${@:-0.3 0.5 0.7}"); read -r -a thresholds <<<"${thresholds[*]}"
samples=${SAMPLES:-30000}; epochs=${EPOCHS:-3}; re_epochs=${RETRAIN_EPOCHS:-2}; re_lr=${RETRAIN_LR:-0.02}
nf=${NF:-8}; pg=${PG:-8}; ranks=${RANKS:-1}; val=${VAL_SAMPLES:-0}
case $net in
  resnet18) arch=(model_config.arch=resnet model_config.n_layers=18 model_config.width=64) ;;
  mobilenet_v2) arch=(model_config.arch=mobilenet_v2) ;;
  *) echo "unknown network '$net' (resnet18 | mobilenet_v2)" >&2; exit 2 ;;
esac
mkdir -p "$out"
launch=(); [ "$ranks" -gt 1 ] && launch=(--num_processes "$ranks")
train() {  # train DIR [overrides...]   (skipped when DIR/model.kiln exists)
  local dir=$1; shift
  [ -f "$dir/model.kiln" ] && return 0
  "$kiln" classification train -e "$spec" -r "$dir" "${launch[@]}" "${arch[@]}" \
    dataset_config.train.max_samples="$samples" "$@" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; exit 1; }
}
evaluate() {  # evaluate MODEL DIR -> prints top-1 accuracy
  [ -f "$2/evaluation/metrics.json" ] ||
    "$kiln" classification evaluate -e "$spec" "${arch[@]}" dataset_config.val.max_samples="$val" -m "$1" -r "$2" >"$2.eval.log" 2>&1 ||
    { tail -n 30 "$2.eval.log" >&2; exit 1; }
  /usr/bin/python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["top1_accuracy"])' \
    "$2/evaluation/metrics.json"
}
param_count_of() {  # parameters of a model file: prune's own count, from a threshold that keeps everything
  "$kiln" classification prune -m "$1" -o "$out/.count.kiln" -pth 0 -nf 1 -pg 1 -r "$out/.count" >/dev/null 2>&1
  kpi "$out/.count/status.json" param_count; rm -rf "$out/.count" "$out/.count.kiln"
}
kpi() { /usr/bin/python3 -c 'import json,sys
rows=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; print(rows[-1]["kpi"][sys.argv[2]])' "$1" "$2"; }

start=$SECONDS
train "$out/base" train_config.n_epochs="$epochs"
base_acc=$(evaluate "$out/base/model.kiln" "$out/base")
echo "trained $net: accuracy $base_acc ($((SECONDS - start)) s so far)" >&2
rows=()
for th in "${thresholds[@]}"; do
  d=$out/pth_$th; mkdir -p "$d"
  if [ "$th" = none ]; then  # the control: the unpruned model, retrained the same way
    model=$out/base/model.kiln
    orig=$(param_count_of "$model"); kept=$orig; pruned_acc=$base_acc
  else
    model=$d/pruned.kiln
    [ -f "$model" ] || "$kiln" classification prune -m "$out/base/model.kiln" -o "$model" \
      -pth "$th" -nf "$nf" -pg "$pg" >"$d/prune.log" 2>&1 || { tail -n 30 "$d/prune.log" >&2; exit 1; }
    orig=$(kpi "$d/status.json" original_param_count); kept=$(kpi "$d/status.json" param_count)
    mkdir -p "$d/pruned_eval"
    pruned_acc=$(evaluate "$model" "$d/pruned_eval")
  fi
  train "$d/retrain" -m "$model" train_config.n_epochs="$re_epochs" \
    train_config.lr_config.cosine.learning_rate="$re_lr"
  re_acc=$(evaluate "$d/retrain/model.kiln" "$d/retrain")
  rows+=("| $net | $th | $orig | $kept | $(/usr/bin/python3 -c "print(f'{1 - $kept / $orig:.1%}')") | $base_acc | $pruned_acc | $re_acc | $(/usr/bin/python3 -c "print(f'{($re_acc - $base_acc) * 100:+.2f}')") |")
  echo "pth $th done ($((SECONDS - start)) s so far)" >&2
done
echo "| network | -pth | params before | params after | removed | acc. trained | acc. pruned | acc. retrained | retrained − trained (points) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "training: $samples images × $epochs epochs; retraining: $re_epochs epochs at lr $re_lr; -nf $nf -pg $pg; $((SECONDS - start)) s" 
