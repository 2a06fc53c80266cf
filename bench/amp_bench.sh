#!/usr/bin/env bash
# Mixed precision and channels_last on this CPU, kiln vs PyTorch side by side in one run (docs/benchmarks.md, "Mixed
# precision on the CPU"). For each model and each of four modes — float32, bf16 AMP, channels_last, both — it trains
# kiln (`--use_amp`, `train_config.memory_format=channels_last`) and the PyTorch reference
# (bench/reference/py_baseline.py `--amp bf16` = torch.autocast('cpu', torch.bfloat16), `--channels_last`) on the same
# model, batch, images and threads, alternately, ROUNDS times each, and keeps the best images/s of each and the test
# accuracy of the last run. Also prints each run's share of this machine's peak FLOP/s (see peak_flops below).
#   bench/amp_bench.sh [ROUNDS]     (default 1; needs ./setup.sh first; about 12 minutes per round on 2 cores)
# Models:
#   resnet18: bench/specs/bench_classification.yaml (SGD lr 0.01, batch 64, no augmentation), 3,200 training images;
#             PyTorch runs the same recipe.
#   resnet_sample: specs/samples/classification_resnet_fmnist.yaml as written (ResNet-10 width 16, batch 128, cosine
#             LR 0.1, augmentation) for one epoch of 12,800 images; PyTorch runs the same model and batch with its
#             reference recipe (SGD lr 0.01, no augmentation), so accuracies compare across modes, not across tools.
# Test accuracy: the first 2,000 test images for both.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ref=$root/bench/reference
kiln=$root/build/kiln
rounds=${1:-1}
threads=${THREADS:-$(nproc)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
val="dataset_config.val.type=idx dataset_config.val.images=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
  dataset_config.val.labels=/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz dataset_config.val.max_samples=2000
  eval_config.validation_period_during_training=1"

# name | kiln spec | kiln overrides | py_baseline args | training images
cases=(
  "resnet18|bench/specs/bench_classification.yaml|model_config.arch=resnet model_config.n_layers=18 model_config.use_batch_norm=true|--arch resnet18 --batch 64|3200"
  "resnet_sample|specs/samples/classification_resnet_fmnist.yaml|train_config.n_epochs=1|--arch resnet10w16 --batch 128|12800"
)
# mode | kiln flags | py_baseline flags
modes=(
  "fp32|train_config.memory_format=contiguous|"
  "bf16 AMP|--use_amp train_config.memory_format=contiguous|--amp bf16"
  "channels_last|train_config.memory_format=channels_last|--channels_last"
  "bf16 AMP + channels_last|--use_amp train_config.memory_format=channels_last|--amp bf16 --channels_last"
)

# This machine's peak: cores x clock x FLOP per cycle and core. AVX-512 with two 512-bit FMA pipes: 64 float32 FLOP
# per cycle; AVX512-BF16's VDPBF16PS (32 bf16 products summed into 16 float32) on the same pipes: 128. The clock is
# the highest "cpu MHz" /proc/cpuinfo reports (a virtual machine reports its nominal clock).
mhz=$(awk -F: '/^cpu MHz/ { if ($2 > m) m = $2 } END { print m }' /proc/cpuinfo)
peak_flops() { /usr/bin/python3 -c "print($threads * $mhz * 1e6 * $1)"; }
# Training FLOP per image: 3 x (2 x multiply-adds of the forward pass) of convolutions and linear layers.
train_flop_per_image() {
  /usr/bin/python3 - "$ref" "$1" <<'PYEOF'
import importlib.util, os, sys, torch
spec = importlib.util.spec_from_file_location("b", os.path.join(sys.argv[1], "py_baseline_lib.py"))
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
m, macs = b.model(sys.argv[2]), [0]
def hook(mod, inp, out):
    if isinstance(mod, torch.nn.Conv2d):
        macs[0] += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
    elif isinstance(mod, torch.nn.Linear):
        macs[0] += out.numel() * mod.in_features
for mod in m.modules(): mod.register_forward_hook(hook)
with torch.no_grad(): m(torch.zeros(1, 1, 28, 28))
print(6 * macs[0])
PYEOF
}

kiln_run() {  # prints "images/s accuracy" of kiln's epoch (training_history.csv: images_per_s, val_accuracy)
  local out=$work/k$RANDOM
  # shellcheck disable=SC2086
  "$kiln" classification train -e "$root/$1" -r "$out" --num_threads "$threads" $2 $val \
    dataset_config.train.max_samples="$3" $4 >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
  /usr/bin/python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1])))[-1]; print(r["images_per_s"], r["val_accuracy"])' \
    "$out/training_history.csv"
}
py_run() {
  # shellcheck disable=SC2086
  /usr/bin/python3 "$ref/py_baseline.py" $1 --threads "$threads" --limit "$2" --test_limit 2000 $3 |
    /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["images_per_s"], r["test_acc"])'
}
best() { printf '%s\n' "$@" | sort -g | tail -n 1; }

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $threads threads, ${mhz} MHz;" \
  "peak $(peak_flops 64 | awk '{printf "%.0f", $1/1e9}') GFLOP/s float32, $(peak_flops 128 | awk '{printf "%.0f", $1/1e9}') GFLOP/s bf16"
echo
echo "| model | mode | PyTorch img/s | kiln img/s | kiln / PyTorch | PyTorch acc | kiln acc | kiln % of peak |"
echo "|---|---|---|---|---|---|---|---|"
for c in "${cases[@]}"; do
  IFS='|' read -r name spec over pyargs limit <<<"$c"
  arch=$(awk '{print $2}' <<<"$pyargs")
  flop=$(train_flop_per_image "$arch")
  for m in "${modes[@]}"; do
    IFS='|' read -r mode kflags pflags <<<"$m"
    ks=(); ps=(); kacc=""; pacc=""
    for ((i = 0; i < rounds; i++)); do
      read -r ips pacc < <(py_run "$pyargs" "$limit" "$pflags"); ps+=("$ips")
      read -r ips kacc < <(kiln_run "$spec" "$over" "$limit" "$kflags"); ks+=("$ips")
    done
    k=$(best "${ks[@]}"); p=$(best "${ps[@]}")
    peak=$(peak_flops $([[ $mode == bf16* ]] && echo 128 || echo 64))
    echo "{\"bench\": \"amp\", \"model\": \"$name\", \"mode\": \"$mode\", \"pytorch_runs\": [${ps[*]// /, }]," \
      "\"kiln_runs\": [${ks[*]// /, }], \"train_flop_per_image\": $flop}" >&2
    /usr/bin/python3 -c "
k, p, f, peak = $k, $p, $flop, $peak
print(f'| $name | $mode | {p:.0f} | {k:.0f} | {k / p:.2f}x | $pacc | {float(\"$kacc\"):.4f} | {100 * k * f / peak:.1f}% |')"
  done
done
