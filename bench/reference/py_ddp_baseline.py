#!/usr/bin/python3
"""PyTorch DDP (gloo, CPU) reference, part of kiln's own PyTorch reference (bench/reference/): what a user would
run instead of kiln, on the same data, model and global batch; bench/run_bench_distributed.sh runs it side by side
with kiln. Use /usr/bin/python3 (Debian's python3-torch and python3-torchvision).
Run it through run_ddp_baseline.sh, or with
  /usr/bin/python3 -m torch.distributed.run --nproc_per_node 2 py_ddp_baseline.py --arch lenet5 --global-batch 64
Each rank uses 1 thread; rank 0 prints one JSON line with aggregate images/s and test accuracy."""
import argparse, json, os, time, torch, torch.distributed as dist, torch.nn.functional as F
import importlib.util, sys
spec = importlib.util.spec_from_file_location("b", os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_baseline_lib.py"))
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
ap = argparse.ArgumentParser(); ap.add_argument("--arch", default="lenet5"); ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--global-batch", type=int, default=64); ap.add_argument("--limit", type=int, default=0); ap.add_argument("--lr", type=float, default=0.01)
ap.add_argument("--no-test", action="store_true", help="skip the test-set accuracy (null): for benchmarks that time training only")
a = ap.parse_args()
dist.init_process_group("gloo"); r, w = dist.get_rank(), dist.get_world_size()
torch.set_num_threads(int(os.environ.get("THREADS_PER_RANK", "1"))); torch.manual_seed(0)
xtr, ytr, xte, yte = b.load(a.limit)
m = torch.nn.parallel.DistributedDataParallel(b.model(a.arch))
opt = torch.optim.SGD(m.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
bs = a.global_batch // w; n = 0; dist.barrier(); t0 = time.perf_counter()
for ep in range(a.epochs):
    g = torch.Generator(); g.manual_seed(ep); perm = torch.randperm(len(xtr), generator=g)
    steps = len(xtr) // a.global_batch
    for s in range(steps):
        j = perm[s * a.global_batch + r * bs: s * a.global_batch + (r + 1) * bs]
        opt.zero_grad(); F.cross_entropy(m(xtr[j]), ytr[j]).backward(); opt.step(); n += a.global_batch
dist.barrier(); dt = time.perf_counter() - t0
if r == 0:
    print(json.dumps({"arch": a.arch, "ranks": w, "global_batch": a.global_batch, "images": n, "seconds": round(dt, 2),
                      "images_per_s": round(n / dt, 1), "test_acc": None if a.no_test else b.accuracy(m.module, xte, yte)}))
dist.destroy_process_group()
