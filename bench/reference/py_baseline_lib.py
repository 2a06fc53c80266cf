"""Shared pieces of the PyTorch references: Fashion-MNIST from the Debian dataset package, LeNet5, ResNet-18 (1-channel, 3x3 stem).
Part of kiln's own PyTorch reference (bench/reference/), also used by bench/py_inference.py.
Models: LeNet5 (conv 6@5x5 pad 2, pool, conv 16@5x5, pool, fc 120-84-10) and torchvision's ResNet-18 with a 1-channel
3x3 stride-1 stem and no max-pool; inputs normalised with mean 0.2860, std 0.3530."""
import gzip, numpy as np, torch, torch.nn as nn, torch.nn.functional as F, torchvision
D = "/usr/share/datasets/fashion-mnist/"
def idx(path):
    with gzip.open(D + path) as f: data = f.read()
    ndim = data[3]; dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
def load(limit=0):
    norm = lambda a: torch.from_numpy(a.copy()).float().div_(255).sub_(0.2860).div_(0.3530).unsqueeze(1)
    xtr, ytr = norm(idx("train-images-idx3-ubyte.gz")), torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xte, yte = norm(idx("t10k-images-idx3-ubyte.gz")), torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    return (xtr[:limit], ytr[:limit], xte, yte) if limit else (xtr, ytr, xte, yte)
class LeNet5(nn.Module):
    def __init__(s):
        super().__init__(); s.c1 = nn.Conv2d(1, 6, 5, padding=2); s.c2 = nn.Conv2d(6, 16, 5)
        s.f1 = nn.Linear(400, 120); s.f2 = nn.Linear(120, 84); s.f3 = nn.Linear(84, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2); x = F.max_pool2d(F.relu(s.c2(x)), 2)
        return s.f3(F.relu(s.f2(F.relu(s.f1(x.flatten(1))))))
class SmallResNet(nn.Module):
    """torchvision's BasicBlock ResNet with `blocks` per stage at widths w, 2w, 4w, 8w, the 1-channel 3x3 stride-1 stem
    and no max-pool: kiln's resnet with model_config.n_layers / width (resnet10w16 is kiln's ResNet sample spec)."""
    def __init__(s, blocks, w):
        super().__init__(); B = torchvision.models.resnet.BasicBlock; s.stem = nn.Sequential(
            nn.Conv2d(1, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)); layers, c = [], w
        for i, n in enumerate(blocks):
            out, stride = w << i, 1 if i == 0 else 2
            down = None if stride == 1 and c == out else nn.Sequential(nn.Conv2d(c, out, 1, stride, bias=False), nn.BatchNorm2d(out))
            layers += [B(c, out, stride, down)] + [B(out, out) for _ in range(n - 1)]; c = out
        s.body = nn.Sequential(*layers); s.fc = nn.Linear(c, 10)
    def forward(s, x): return s.fc(torch.flatten(F.adaptive_avg_pool2d(s.body(s.stem(x)), 1), 1))
def model(arch):
    if arch == "lenet5": return LeNet5()
    if arch == "resnet10w16": return SmallResNet([1, 1, 1, 1], 16)
    m = torchvision.models.resnet18(num_classes=10); m.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False); m.maxpool = nn.Identity(); return m
def accuracy(m, xte, yte):
    m.eval(); c = 0
    with torch.no_grad():
        for i in range(0, len(xte), 1000): c += (m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
    return round(c / len(xte), 4)
