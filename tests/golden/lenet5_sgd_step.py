#!/usr/bin/python3
"""Golden reference for tests/golden/lenet5_sgd_test.cpp: two SGD steps (lr 0.01, momentum 0.9, L2 5e-4 on conv and
linear weights only, as kiln's reg_config scope "Conv2D,Dense") of bench/reference's LeNet5, written as .npy:
initial weights, the batches, and the weights after each step. With `bf16`, the forward pass and the loss run under
torch.autocast('cpu', torch.bfloat16), as PyTorch's AMP recipe has it (backward and the step outside).
Usage: lenet5_sgd_step.py OUT_DIR [bf16]"""
import contextlib, os, sys, numpy as np, torch, torch.nn.functional as F

out = sys.argv[1]
amp = len(sys.argv) > 2 and sys.argv[2] == "bf16"
os.makedirs(out, exist_ok=True)
torch.manual_seed(1234)
torch.set_num_threads(1)

class LeNet5(torch.nn.Module):  # same layers as bench/reference/py_baseline_lib.py, kiln's parameter names
    def __init__(s):
        super().__init__(); s.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2); s.conv2 = torch.nn.Conv2d(6, 16, 5)
        s.fc1 = torch.nn.Linear(400, 120); s.fc2 = torch.nn.Linear(120, 84); s.fc3 = torch.nn.Linear(84, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.conv1(x)), 2); x = F.max_pool2d(F.relu(s.conv2(x)), 2)
        return s.fc3(F.relu(s.fc2(F.relu(s.fc1(x.flatten(1))))))

m = LeNet5()
for name, p in m.named_parameters():
    np.save(os.path.join(out, "init." + name + ".npy"), p.detach().numpy())
decay = [p for n, p in m.named_parameters() if n.endswith(".weight")]
no_decay = [p for n, p in m.named_parameters() if not n.endswith(".weight")]
opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                      lr=0.01, momentum=0.9)
for step in range(2):
    x = torch.randn(64, 1, 28, 28); y = torch.randint(0, 10, (64,))
    np.save(os.path.join(out, f"x{step}.npy"), x.numpy()); np.save(os.path.join(out, f"y{step}.npy"), y.numpy())
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16) if amp else contextlib.nullcontext():
        loss = F.cross_entropy(m(x), y)
    loss.backward(); opt.step()
    np.save(os.path.join(out, f"loss{step}.npy"), np.array([loss.item()], dtype=np.float32))
    for name, p in m.named_parameters():
        np.save(os.path.join(out, f"step{step}." + name + ".npy"), p.detach().numpy())
