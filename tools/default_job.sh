#!/usr/bin/env bash
# The README's default job: train LeNet5 on Fashion-MNIST on 2 data-parallel ranks, then evaluate the final model.
#   tools/default_job.sh [RESULTS_DIR]        (default results/default_job; rerunning resumes/finishes instantly)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
results=${1:-$root/results/default_job}
spec=$root/specs/samples/classification_lenet5_fmnist.yaml
"$root/build/kiln" classification train -e "$spec" -r "$results" --num_processes 2
"$root/build/kiln" classification evaluate -e "$spec" -m "$results/model.kiln" -r "$results"
echo "Results in $results: model.kiln, training_curves.png, evaluation/metrics.json, status.json"
