#!/usr/bin/env bash
# Training speed across hosts (docs/benchmarks.md "Speed across hosts"), side by side in one run: 2 hosts of
# tools/netns_cluster.sh (network namespaces on this machine), 1 rank per host with 1 thread, global batch 64 (32 per
# rank), for each link rate in RATES ("none" = unshaped):
#   kiln mpi          kiln's launcher with a cluster file (mpirun; the MPI backend)
#   kiln gloo         the same with KILN_CPU_BACKEND=gloo (Gloo's ring all-reduce)
#   kiln gloo fp16    ... and gradient_compression: fp16
#   kiln gloo bN      ... and bucket_mb: N, for each N in BUCKETS (ResNet-18 only: LeNet5's 247 KB is one bucket)
#   DDP               PyTorch DDP (gloo) from bench/reference/py_ddp_baseline.py, started with the torchrun
#                     contract on each host (GLOO_SOCKET_IFNAME=eth0)
# and, on one host, 1 process x 1 thread at batch 64 (kiln; PyTorch's bench/reference/py_baseline.py), for the
# scaling efficiency: 2-host img/s / (2 x 1-process img/s). Each figure is the best of ROUNDS interleaved runs.
# Nothing is pinned: the two single-threaded ranks share the machine's cores with the veths' packet processing.
#   bench/netns_speed.sh KILN OUT_DIR [ROUNDS] [RATES] [BUCKETS]   ROUNDS 1; RATES "none 10gbit 1gbit"; BUCKETS "5 100"
# Needs root and python3-torch; exits 77 where namespaces cannot be made.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
KILN=$(realpath "$1")
OUT=$(realpath -m "$2")
ROUNDS=${3:-1}
RATES=${4:-"none 10gbit 1gbit"}
BUCKETS=${5:-"5 100"}
REF=$SRC/bench/reference
SPEC=$SRC/bench/specs/bench_classification.yaml
P=ks$$-
source "$SRC/tests/support/outer_job_env.sh"
source "$SRC/bench/netns_pair.sh"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# name | kiln overrides | reference args | training images
MODELS=(
  "LeNet5|model_config.arch=lenet5|--arch lenet5|60000"
  "ResNet-18|model_config.arch=resnet model_config.n_layers=18 model_config.use_batch_norm=true|--arch resnet18|1600"
)

hosts_up() {  # hosts_up RATE: a fresh pair of hosts, their links shaped to RATE unless "none"
  if [ "$1" = none ]; then pair_up; else pair_up --rate "$1"; fi
}
on() { local h=$1 w=() x; shift; for x in "$@"; do w+=("$(printf '%q' "$x")"); done; "$NC" exec "$h" "${w[*]}"; }
json_ips() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_s"])'; }
history_ips() { tail -n 1 "$1/training_history.csv" | cut -d, -f8; }
# Each measurement sets IPS (and runs in this shell, so that a failure ends the script) in a folder of its own.
run_id=0
IPS=""
next_dir() { run_id=$((run_id + 1)); DIR=$OUT/run$run_id; }

cluster_yaml() { pair_yaml "$1" speed "KILN_CPU_BACKEND: $2" "--bind-to, none, --map-by, node"; }

kiln_two() {  # kiln_two BACKEND OVERRIDES LIMIT [MORE OVERRIDES…]: img/s of a 2-host kiln job
  local backend=$1 over=$2 limit=$3 dir
  shift 3
  next_dir
  dir=$DIR
  cluster_yaml "$dir.yaml" "$backend"
  on "$H1" "$KILN" classification train -e "$SPEC" -r "$dir" -c "$dir.yaml" --num_threads 1 \
    train_config.batch_size_per_gpu=32 $over dataset_config.train.max_samples="$limit" "$@" >"$dir.log" 2>&1 ||
    { tail -n 30 "$dir.log" >&2; exit 1; }
  IPS=$(history_ips "$dir")
}

ddp_two() {  # ddp_two REFARGS LIMIT: img/s of PyTorch DDP, one rank on each host
  local refargs=$1 limit=$2 dir rank1 out
  next_dir
  dir=$DIR
  on "$H2" env RANK=1 LOCAL_RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=1 MASTER_ADDR="$H1" MASTER_PORT=29500 \
    GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 "$REF/py_ddp_baseline.py" $refargs --global-batch 64 --limit "$limit" --no-test \
    >"$dir.rank1.log" 2>&1 &
  rank1=$!
  out=$(on "$H1" env RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=1 MASTER_ADDR="$H1" MASTER_PORT=29500 \
    GLOO_SOCKET_IFNAME=eth0 /usr/bin/python3 "$REF/py_ddp_baseline.py" $refargs --global-batch 64 --limit "$limit" --no-test \
    2>"$dir.rank0.log") || { wait "$rank1" || true; cat "$dir.rank0.log" "$dir.rank1.log" >&2; exit 1; }
  wait "$rank1"
  IPS=$(echo "$out" | json_ips)
}

kiln_one() {  # kiln_one OVERRIDES LIMIT: img/s of 1 kiln process, 1 thread, batch 64
  local dir
  next_dir
  dir=$DIR
  "$KILN" classification train -e "$SPEC" -r "$dir" --num_threads 1 train_config.batch_size_per_gpu=64 $1 \
    dataset_config.train.max_samples="$2" >"$dir.log" 2>&1 || { tail -n 30 "$dir.log" >&2; exit 1; }
  IPS=$(history_ips "$dir")
}
torch_one() {
  local out
  out=$(/usr/bin/python3 "$REF/py_baseline.py" $1 --batch 64 --threads 1 --limit "$2" --no-test) || exit 1
  IPS=$(echo "$out" | json_ips)
}

best() { printf '%s\n' "$@" | sort -g | tail -n 1; }
fmt() { /usr/bin/python3 -c "print(f'{float($1):,.0f}')"; }
ratio() { /usr/bin/python3 -c "print(f'{float($1) / float($2):.2f}')"; }

declare -A FIG  # FIG[model|config|rate] = best img/s
record() {  # record MODEL CONFIG RATE: keeps the best IPS
  local key="$1|$2|$3"
  [ -n "$IPS" ] || { echo "no images/s for $key" >&2; exit 1; }
  FIG[$key]=$(best "${FIG[$key]:-0}" "$IPS")
  echo "  $1, $2, $3: $IPS img/s"
  IPS=""
}

for ((round = 0; round < ROUNDS; round++)); do
  for m in "${MODELS[@]}"; do
    IFS='|' read -r name over refargs limit <<<"$m"
    kiln_one "$over" "$limit"; record "$name" "kiln 1x1" "-"
    torch_one "$refargs" "$limit"; record "$name" "PyTorch 1x1" "-"
  done
  for rate in $RATES; do
    hosts_up "$rate"
    for m in "${MODELS[@]}"; do
      IFS='|' read -r name over refargs limit <<<"$m"
      kiln_two mpi "$over" "$limit"; record "$name" "kiln mpi" "$rate"
      kiln_two gloo "$over" "$limit"; record "$name" "kiln gloo" "$rate"
      kiln_two gloo "$over" "$limit" train_config.data_parallel.gradient_compression=fp16
      record "$name" "kiln gloo fp16" "$rate"
      if [ "$name" = ResNet-18 ]; then
        for b in $BUCKETS; do
          kiln_two gloo "$over" "$limit" train_config.data_parallel.bucket_mb="$b"; record "$name" "kiln gloo b$b" "$rate"
        done
      fi
      ddp_two "$refargs" "$limit"; record "$name" "DDP" "$rate"
    done
  done
done

# One table per model: a row per link rate; efficiency = img/s / (2 x the 1-process figure of the same program).
for m in "${MODELS[@]}"; do
  IFS='|' read -r name _ _ limit <<<"$m"
  k1=${FIG[$name|kiln 1x1|-]} p1=${FIG[$name|PyTorch 1x1|-]}
  configs=("kiln mpi" "kiln gloo" "kiln gloo fp16")
  [ "$name" != ResNet-18 ] || for b in $BUCKETS; do configs+=("kiln gloo b$b"); done
  echo
  echo "$name ($limit images; 1 process x 1 thread: kiln $(fmt "$k1") img/s, PyTorch $(fmt "$p1") img/s)"
  header="| link |"; rule="|---|"
  for c in "${configs[@]}"; do header+=" $c |"; rule+="---|"; done
  echo "$header DDP (gloo) | best kiln / DDP |"
  echo "$rule---|---|"
  for rate in $RATES; do
    row="| $rate |" top=0
    for c in "${configs[@]}"; do
      v=${FIG[$name|$c|$rate]}
      top=$(best "$top" "$v")
      row+=" $(fmt "$v") ($(ratio "$v" "$(/usr/bin/python3 -c "print(2 * $k1)")")) |"
    done
    d=${FIG[$name|DDP|$rate]}
    echo "$row $(fmt "$d") ($(ratio "$d" "$(/usr/bin/python3 -c "print(2 * $p1)")")) | $(ratio "$top" "$d")× |"
  done
done
echo
echo "img/s (scaling efficiency: img/s / (2 x 1-process img/s of the same program)); best of $ROUNDS round(s)"
