#!/usr/bin/env python3
"""What a PyTorch user would run instead of `kiln classification train` on specs/samples/classification_resnet_fmnist.yaml:
the same training in PyTorch eager mode, for side-by-side throughput and accuracy (tools/gpu_check.sh, docs/gpu_check.md).

The same as the kiln run, on purpose:
  model   kiln's ResNet-10 of the sample (networks/src/resnet.cpp): BasicBlocks [1, 1, 1, 1], base width 16 (stages of
          16/32/64/128 channels), the small-input stem (3x3 conv stride 1, batch norm, no max-pool), convolutions
          without bias next to batch norm, global average pool, a linear head; LibTorch's (= PyTorch's) default
          initialisation
  data    Fashion-MNIST IDX gz files (--data: the folder, --train-samples: the first N training images, as kiln's
          dataset_config.train.max_samples), normalised with mean 0.2860 and std 0.3530; augmentation as the spec:
          random crop with 2 pixels of zero padding (zero in the raw image) and horizontal flips
  recipe  batch 128, SGD momentum 0.9 Nesterov, L2 5e-4 on conv and linear weights only (reg_config scope
          Conv2D,Dense), kiln's cosine schedule per step (runtime/src/schedule.cpp: linear soft start over the first
          3 % from the minimum, then cosine down to 0.005 x 0.1), floor(N / batch) steps per epoch
What differs: the data sit on the device as one tensor and are augmented there in batches (kiln's loader decodes and
augments on CPU threads), and the draws of shuffling, crops and flips are PyTorch's own.

Usage: classification_eager.py --data DIR [--epochs 10] [--batch 128] [--train-samples 0] [--device cuda|cpu]
                               [--amp none|bf16|fp16] [--channels_last] [--max-steps 0] [--val-samples 0] [--threads 0]
Prints one JSON line: images_per_s (all epochs, and epochs 2+), val_accuracy, seconds, device, amp, ...
"""
import argparse
import gzip
import json
import math
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    data = gzip.open(path).read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet10(nn.Module):
    def __init__(self, width=16, classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, cin = [], width
        for stage, stride in enumerate([1, 2, 2, 2]):
            cout = width << stage
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def cosine_lr(step, total, base=0.1, min_ratio=0.005, soft_start=0.03):
    lo, p = base * min_ratio, step / total
    if p < soft_start:
        return lo + (base - lo) * p / soft_start
    t = (p - soft_start) / (1.0 - soft_start) if soft_start < 1.0 else 1.0
    return lo + (base - lo) * 0.5 * (1.0 + math.cos(math.pi * t))


def augment(raw, generator):
    """Random crop with 2 pixels of zero padding and horizontal flips, on a batch of raw uint8 images [B, 1, H, W]."""
    b, _, h, w = raw.shape
    padded = F.pad(raw, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (b,), device=raw.device, generator=generator)
    dx = torch.randint(0, 5, (b,), device=raw.device, generator=generator)
    rows = (dy[:, None] + torch.arange(h, device=raw.device))[:, None, :, None].expand(b, 1, h, w + 4)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=raw.device))[:, None, None, :].expand(b, 1, h, w)
    out = out.gather(3, cols)
    flip = torch.rand(b, device=raw.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def normalise(raw):
    return (raw.float() / 255.0 - MEAN) / STD


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with Fashion-MNIST's four IDX gz files")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--train-samples", type=int, default=0, help="the first N training images (0: all)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    ap.add_argument("--channels_last", action="store_true",
                    help="model and batches in torch.channels_last (kiln's memory_format auto on CUDA)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: all epochs)")
    ap.add_argument("--val-samples", type=int, default=0, help="validate on the first N test images (0: all)")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads on CPU (0: PyTorch's default)")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("classification_eager.py: --device cuda but torch.cuda.is_available() is False")

    xtr = read_idx(f"{a.data}/train-images-idx3-ubyte.gz")
    ytr = read_idx(f"{a.data}/train-labels-idx1-ubyte.gz").long()
    if a.train_samples:
        xtr, ytr = xtr[:a.train_samples], ytr[:a.train_samples]
    xte = read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz")
    yte = read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").long()
    if a.val_samples:
        xte, yte = xte[:a.val_samples], yte[:a.val_samples]
    xtr, ytr = xtr.unsqueeze(1).to(dev), ytr.to(dev)
    xte, yte = xte.unsqueeze(1).to(dev), yte.to(dev)

    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = ResNet10().to(dev).to(memory_format=fmt)
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() in (2, 4)]
    other = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() in (2, 4))]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0.0}],
                          lr=0.1, momentum=0.9, nesterov=True)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.amp)
    scaler = None
    if a.amp == "fp16":  # torch.amp.GradScaler since PyTorch 2.3; torch.cuda.amp's before
        scaler = torch.amp.GradScaler(dev.type) if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed)

    steps_per_epoch = len(xtr) // a.batch
    total = steps_per_epoch * a.epochs
    step, images, epoch_times, epoch_images, loss_sum = 0, 0, [], [], 0.0

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    t_start = time.perf_counter()
    for epoch in range(a.epochs):
        model.train()
        sync()
        t0 = time.perf_counter()
        n0 = images
        perm = torch.randperm(len(xtr), device=dev, generator=gen)
        for i in range(steps_per_epoch):
            if a.max_steps and step >= a.max_steps:
                break
            for g in opt.param_groups:
                g["lr"] = cosine_lr(step, total)
            idx = perm[i * a.batch:(i + 1) * a.batch]
            x = normalise(augment(xtr[idx], gen)).contiguous(memory_format=fmt)
            with torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = F.cross_entropy(model(x), ytr[idx])
            opt.zero_grad(set_to_none=True)
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            step += 1
            images += a.batch
        loss_sum = float(loss.detach())
        sync()
        epoch_times.append(time.perf_counter() - t0)
        epoch_images.append(images - n0)
        if a.max_steps and step >= a.max_steps:
            break
    train_s = time.perf_counter() - t_start

    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(dev.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        for i in range(0, len(xte), 1000):
            correct += (model(normalise(xte[i:i + 1000])).argmax(1) == yte[i:i + 1000]).sum().item()
    later_s, later_n = sum(epoch_times[1:]), sum(epoch_images[1:])
    print(json.dumps({
        "runner": "pytorch_eager", "torch": torch.__version__, "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "",
        "amp": a.amp, "channels_last": a.channels_last, "epochs": len(epoch_times), "steps": step, "batch": a.batch, "train_samples": len(xtr),
        "val_samples": len(xte),
        "images": images, "seconds": round(train_s, 2), "images_per_s": round(images / train_s, 1),
        "images_per_s_after_first_epoch": round(later_n / later_s, 1) if later_s > 0 else None,
        "last_loss": round(loss_sum, 4), "val_accuracy": round(correct / len(xte), 4)}))


if __name__ == "__main__":
    main()
