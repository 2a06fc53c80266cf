#!/usr/bin/python3
"""What a PyTorch user runs instead of `kiln detectnet_v2 train`, for the speed comparison in bench/detection_study.sh:
the same DetectNet_v2 network kiln builds (networks/src/detectnet_v2.cpp: torchvision's ResNet layout, 7x7/2 stem,
no max-pool at stride 8, stages at strides 1/2/2/1, 1x1 output_cov (sigmoid) and output_bbox heads), TAO's cost
(foreground-weighted BCE on the coverage, cov_norm-masked L1 on the boxes) and Adam, on pre-made tensors: random
images and targets with the shapes and sparsity of the synthetic scenes. No decoding, augmentation or rasterising —
kiln's figure includes all of those — so this is the compute-only upper bound a hand-written loop reaches.
  1 process:  /usr/bin/python3 bench/py_detectnet_train.py --layers 10 --width 32 --batch 16 --threads 2
  DDP:        one process per rank with the torchrun env contract (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and
              --threads 1 (bench/detection_study.sh starts them; Debian's torchrun 1.13 breaks on Python 3.11)
Prints one JSON line (rank 0) with images_per_s over --steps steps after --warmup steps."""
import argparse, json, os, time
import torch, torch.nn as nn, torch.nn.functional as F, torch.distributed as dist

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=10, choices=[10, 18, 34]); ap.add_argument("--width", type=int, default=32)
ap.add_argument("--classes", type=int, default=10); ap.add_argument("--size", type=int, default=160)
ap.add_argument("--stride", type=int, default=8, choices=[8, 16]); ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--threads", type=int, default=2); ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--warmup", type=int, default=5)
a = ap.parse_args()
distributed = "RANK" in os.environ
if distributed: dist.init_process_group("gloo")
rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
torch.set_num_threads(a.threads); torch.manual_seed(rank)


class Block(nn.Module):  # torchvision's BasicBlock
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class DetectNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        blocks = {10: [1, 1, 1, 1], 18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[a.layers]
        w = a.width
        stem = [nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        if a.stride == 16: stem.append(nn.MaxPool2d(3, 2, 1))
        layers, cin = [], w
        for i, (n, s) in enumerate(zip(blocks, [1, 2, 2, 1])):
            cout = w << i
            for b in range(n):
                layers.append(Block(cin, cout, s if b == 0 else 1)); cin = cout
        self.backbone = nn.Sequential(*stem, *layers)
        self.cov = nn.Conv2d(cin, a.classes, 1); self.bbox = nn.Conv2d(cin, 4 * a.classes, 1)

    def forward(self, x):
        f = self.backbone(x)
        return torch.sigmoid(self.cov(f)), self.bbox(f)


def cost(cov, bbox, cov_t, bbox_t, cov_norm, fg=0.5):
    bce = -(cov_t * torch.log(cov + 1e-5) + (1 - cov_t) * torch.log(1 - cov + 1e-5))
    w = torch.where(cov_t > 0.5, torch.full_like(cov, fg), torch.full_like(cov, 1 - fg))
    n, c, h, wd = cov.shape
    l1 = (bbox.view(n, c, 4, h, wd) - bbox_t.view(n, c, 4, h, wd)).abs() * cov_norm.unsqueeze(2)
    return (w * bce).mean() / 11 + l1.mean() * 10 / 11


m = DetectNetV2()
if distributed: m = nn.parallel.DistributedDataParallel(m)
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
g = a.size // a.stride
x = torch.rand(a.batch, 3, a.size, a.size)
cov_t = (torch.rand(a.batch, a.classes, g, g) < 0.003).float()  # ~3 objects x ~4 cells over 10 classes' grids
bbox_t = torch.randn(a.batch, 4 * a.classes, g, g) * cov_t.repeat_interleave(4, 1)
cov_norm = cov_t / 4


def step():
    opt.zero_grad()
    cov, bbox = m(x)
    cost(cov, bbox, cov_t, bbox_t, cov_norm).backward()
    opt.step()


for _ in range(a.warmup): step()
if distributed: dist.barrier()
t0 = time.perf_counter()
for _ in range(a.steps): step()
if distributed: dist.barrier()
dt = time.perf_counter() - t0
if rank == 0:
    print(json.dumps({"layers": a.layers, "width": a.width, "ranks": world, "threads": a.threads, "batch": a.batch,
                      "images": a.steps * a.batch * world, "seconds": round(dt, 2),
                      "images_per_s": round(a.steps * a.batch * world / dt, 1)}))
if distributed: dist.destroy_process_group()
