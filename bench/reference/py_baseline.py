#!/usr/bin/python3
"""PyTorch (Python) reference, one process: Fashion-MNIST classification on CPU.
Part of kiln's own PyTorch reference (bench/reference/): what a user would run instead of kiln, on the same data,
model and batch; bench/run_bench.sh and bench/run_bench_distributed.sh run it side by side with kiln. Use
/usr/bin/python3 (Debian's python3-torch and python3-torchvision).
Usage: py_baseline.py --arch lenet5|resnet18|resnet10w16 [--epochs 1] [--batch 64] [--threads 2] [--limit N] [--amp bf16]
                      [--channels_last]
--amp bf16 runs the forward pass and loss under torch.autocast('cpu', torch.bfloat16), PyTorch's CPU AMP recipe;
--channels_last converts the model and each batch to torch.channels_last.
Prints one JSON line: {"arch", "images_per_s", "test_acc", ...}."""
import argparse, importlib.util, json, os, time, torch, torch.nn.functional as F
spec = importlib.util.spec_from_file_location("b", os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_baseline_lib.py"))
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
ap = argparse.ArgumentParser(); ap.add_argument("--arch", default="lenet5"); ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--batch", type=int, default=64); ap.add_argument("--threads", type=int, default=2); ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--lr", type=float, default=0.01)
ap.add_argument("--test_limit", type=int, default=0, help="test accuracy on the first N test images (0: all 10,000)")
ap.add_argument("--amp", choices=["bf16"], help="autocast the forward pass and loss to bfloat16 (CPU AMP)")
ap.add_argument("--channels_last", action="store_true", help="model and batches in torch.channels_last")
ap.add_argument("--no-test", action="store_true", help="skip the test-set accuracy (null): for benchmarks that time training only")
a = ap.parse_args(); torch.set_num_threads(a.threads); torch.manual_seed(0)
xtr, ytr, xte, yte = b.load(a.limit)
m = b.model(a.arch)
fmt = torch.channels_last if a.channels_last else torch.contiguous_format
m = m.to(memory_format=fmt)
opt = torch.optim.SGD(m.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
n = 0; t0 = time.perf_counter()
for ep in range(a.epochs):
    m.train(); perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr) - a.batch + 1, a.batch):
        j = perm[i:i + a.batch]; opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
            loss = F.cross_entropy(m(xtr[j].contiguous(memory_format=fmt)), ytr[j])
        loss.backward(); opt.step(); n += a.batch
dt = time.perf_counter() - t0
print(json.dumps({"arch": a.arch, "amp": a.amp, "channels_last": a.channels_last, "threads": a.threads, "batch": a.batch, "images": n, "seconds": round(dt, 2),
                  "images_per_s": round(n / dt, 1), "test_acc": None if a.no_test else b.accuracy(m, xte[:a.test_limit or None], yte[:a.test_limit or None])}))
