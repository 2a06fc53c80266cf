"""What a PyTorch user runs instead of `kiln classification inference`: batch inference over the Fashion-MNIST test
set — normalise, forward in eval mode under no_grad, softmax, top-5 — for the same architectures kiln builds
(LeNet5, ResNet-18 with the 3x3 stride-1 stem and no max-pool, MobileNetV2 with the small-input strides).
Random weights: the speed does not depend on them. Prints one JSON line with images_per_s.
  /usr/bin/python3 bench/py_inference.py --arch lenet5|resnet18|mobilenet_v2 [--batch 256] [--threads 2]"""
import argparse, importlib.util, json, os, sys, time
import torch, torch.nn as nn, torchvision

ap = argparse.ArgumentParser()
ap.add_argument("--arch", default="resnet18"); ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--threads", type=int, default=2); ap.add_argument("--limit", type=int, default=0)
ap.add_argument("--no-warmup", action="store_true")
a = ap.parse_args()
torch.set_num_threads(a.threads)
ref = os.environ.get("KILN_REFERENCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
spec = importlib.util.spec_from_file_location("lib", os.path.join(ref, "py_baseline_lib.py"))
lib = importlib.util.module_from_spec(spec); spec.loader.exec_module(lib)

if a.arch == "mobilenet_v2":  # kiln's small-input MobileNetV2 (networks/src/mobilenet_v2.cpp): total stride 8
    m = torchvision.models.mobilenet_v2(num_classes=10)
    m.features[0][0] = nn.Conv2d(1, 32, 3, 1, 1, bias=False)
    m.features[2].conv[1][0].stride = (1, 1)
else:
    m = lib.model(a.arch)
m.eval()
raw = lib.idx("t10k-images-idx3-ubyte.gz")
if a.limit: raw = raw[:a.limit]
images = torch.from_numpy(raw.copy())
with torch.no_grad():
    if not a.no_warmup:  # warm-up batch, outside the timing (kiln's first batch is inside its timing)
        m(images[:a.batch].float().div(255).sub(0.2860).div(0.3530).unsqueeze(1))
    start = time.perf_counter(); labels = []
    for i in range(0, len(images), a.batch):
        x = images[i:i + a.batch].float().div_(255).sub_(0.2860).div_(0.3530).unsqueeze(1)
        p, k = torch.softmax(m(x), 1).topk(5, 1)
        labels.append(k[:, 0])
    seconds = time.perf_counter() - start
print(json.dumps({"arch": a.arch, "images": len(images), "batch": a.batch, "threads": a.threads,
                  "images_per_s": round(len(images) / seconds, 1), "seconds": round(seconds, 3)}))
