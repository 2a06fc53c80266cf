#!/usr/bin/env bash
# The README's default job: the whole model lifecycle on Fashion-MNIST with LeNet5 —
#   train on 2 ranks → evaluate → prune → retrain on 2 ranks → evaluate → export FP32 + INT8 (QDQ, calibration
#   cache, DeepStream config; checked in onnxruntime) → inference on the test set — then a summary table.
#   tools/default_job.sh [RESULTS_DIR]        (default results/default_job; a rerun resumes/finishes quickly)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
out=${1:-$root/results/default_job}
spec=$root/specs/samples/classification_lenet5_fmnist.yaml
kiln=$root/build/kiln
mkdir -p "$out"

step() { echo; echo "== $* =="; }
step "train (2 ranks)"
"$kiln" classification train -e "$spec" -r "$out/train" --num_processes 2
step "evaluate"
"$kiln" classification evaluate -e "$spec" -m "$out/train/model.kiln" -r "$out/train"
step "prune"
"$kiln" classification prune -m "$out/train/model.kiln" -o "$out/prune/lenet5_pruned.kiln" -pth 0.5 -nf 4 -pg 2
step "retrain the pruned model (2 ranks)"
"$kiln" classification train -e "$spec" -r "$out/retrain" -m "$out/prune/lenet5_pruned.kiln" --num_processes 2
step "evaluate the retrained model"
"$kiln" classification evaluate -e "$spec" -m "$out/retrain/model.kiln" -r "$out/retrain"
step "export FP32"
"$kiln" classification export -m "$out/retrain/model.kiln" -o "$out/export/lenet5_fp32.onnx"
step "export INT8 (QDQ + calibration cache + DeepStream config)"
"$kiln" classification export -m "$out/retrain/model.kiln" -o "$out/export/lenet5_int8.onnx" --data_type int8 \
  --gen_ds_config -r "$out/export/int8"
step "inference on the test set (2 ranks)"
"$kiln" classification inference -m "$out/retrain/model.kiln" \
  -i /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz -o "$out/inference" --num_processes 2

step "summary"
python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def last(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()][-1]
def metrics(d):
    with open(os.path.join(out, d, "evaluation", "metrics.json")) as f:
        return json.load(f)
prune = last(os.path.join(out, "prune", "status.json"))["kpi"]
int8 = last(os.path.join(out, "export", "int8", "status.json"))["kpi"]
rows = [
    ("trained", prune["original_param_count"], metrics("train")["top1_accuracy"],
     os.path.getsize(os.path.join(out, "train", "model.kiln"))),
    ("pruned + retrained", prune["param_count"], metrics("retrain")["top1_accuracy"],
     os.path.getsize(os.path.join(out, "retrain", "model.kiln"))),
    ("ONNX FP32", prune["param_count"], None, os.path.getsize(os.path.join(out, "export", "lenet5_fp32.onnx"))),
    ("ONNX INT8 QDQ (onnxruntime)", prune["param_count"], int8.get("int8_accuracy"),
     os.path.getsize(os.path.join(out, "export", "lenet5_int8.onnx"))),
]
print(f"{'model':30} {'params':>8} {'accuracy':>9} {'size':>10}")
for name, params, acc, size in rows:
    print(f"{name:30} {params:>8} {('%.4f' % acc) if acc is not None else '-':>9} {size / 1024:>8.1f} KB")
print(f"pruning ratio {prune['pruning_ratio']:.3f}; INT8 vs FP32 on the same images: "
      f"{int8.get('int8_accuracy', float('nan')):.4f} vs {int8.get('fp32_accuracy', float('nan')):.4f}")
print(f"inference: {out}/inference/inference.csv; DeepStream: {out}/export/nvinfer_config.txt")
EOF
