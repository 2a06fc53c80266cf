#!/usr/bin/python3
"""An alpha-beta model of ring all-reduce, fitted to `kiln cluster check` figures (docs/benchmarks.md, "Beyond this
machine"). A ring all-reduce of S bytes over p ranks takes 2(p-1) steps, each sending S/p bytes:

    T(S, p) = 2(p-1) * alpha + 2(p-1)/p * S / beta

alpha: the time of one step with nothing to send (latency: the network plus the backend's threads); beta: the bytes
per second one link carries. Usage:

    bench/alpha_beta.py fit LOG...            alpha and beta of each cluster-check log (rank 0's output)
    bench/alpha_beta.py check FIT_LOG LOG...  predict each LOG's times from FIT_LOG's alpha, and beta = the link rate
                                              that LOG's file name names (..._1gbit.log) times FIT_LOG's share of its
                                              own link, if named; print predicted vs measured
    bench/alpha_beta.py predict ALPHA_US LINK_EFFICIENCY
                                              step time and scaling efficiency of ResNet-18/50 at 8, 64, 512 nodes
"""
import math
import re
import sys

SIZE = re.compile(r"\]?\s+([0-9.]+) (B|KiB|MiB|GiB)\s+([0-9.]+) ms")
RATE = re.compile(r"_(\d+)(mbit|gbit)\.log$")
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def read(path):
    """(ranks, [(bytes, seconds)]) from a cluster-check log."""
    text = open(path).read()
    ranks = int(re.search(r"All (\d+) ranks joined", text).group(1))
    rows = [(float(v) * UNITS[u], float(ms) / 1e3) for v, u, ms in SIZE.findall(text)]
    return ranks, rows


def link_rate(path):
    """Bytes/s of the link rate the file name names, or None (unshaped)."""
    m = RATE.search(path)
    if not m:
        return None
    return int(m.group(1)) * (1e6 if m.group(2) == "mbit" else 1e9) / 8


def fit(ranks, rows):
    """alpha from the smallest all-reduce; beta by least squares over the sizes of 1 MiB and more (smaller ones pass
    within tbf's burst and read faster than the link)."""
    steps = 2 * (ranks - 1)
    smallest = min(rows)
    alpha = smallest[1] / steps
    big = [(b, t) for b, t in rows if b >= (1 << 20)]
    xs = [steps / ranks * b for b, _ in big]
    ys = [t - steps * alpha for _, t in big]
    inv_beta = sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)
    return alpha, 1 / inv_beta


def ring_time(size, ranks, alpha, beta):
    steps = 2 * (ranks - 1)
    return steps * alpha + steps / ranks * size / beta


def cmd_fit(paths):
    print("| log | ranks | alpha | beta | beta / link |")
    print("|---|---|---|---|---|")
    for p in paths:
        ranks, rows = read(p)
        alpha, beta = fit(ranks, rows)
        link = link_rate(p)
        share = f"{beta / link:.2f}" if link else "-"
        print(f"| {p.split('/')[-1]} | {ranks} | {alpha * 1e6:.0f} us | {beta * 8 / 1e9:.3f} Gbit/s | {share} |")


def cmd_check(fit_path, paths):
    fr, frows = read(fit_path)
    alpha, beta = fit(fr, frows)
    link = link_rate(fit_path)
    share = beta / link if link else 0.95
    print(f"fit on {fit_path.split('/')[-1]}: alpha {alpha * 1e6:.0f} us, beta {beta * 8 / 1e9:.3f} Gbit/s "
          f"({share:.2f} of its link)")
    print("| log | size | predicted | measured | error |")
    print("|---|---|---|---|---|")
    for p in paths:
        ranks, rows = read(p)
        b = link_rate(p) * share if link_rate(p) else beta
        for size, t in rows:
            if size < (1 << 20):
                continue
            pred = ring_time(size, ranks, alpha, b)
            print(f"| {p.split('/')[-1]} | {size / (1 << 20):.0f} MiB | {pred * 1e3:.1f} ms | {t * 1e3:.1f} ms | "
                  f"{(pred - t) / t * 100:+.0f}% |")


# Gradients (float32) and the compute time of one training step at batch 32 per GPU, assumed for a current
# data-centre GPU (not measured here: kiln has not run on a GPU yet). Backward is taken as 2/3 of the step.
MODELS = {"ResNet-18": (11.69e6 * 4, 0.040), "ResNet-50": (25.56e6 * 4, 0.100)}
FIRST_BUCKET, BUCKET = 1 << 20, 25 << 20  # kiln's defaults (train_config.data_parallel)


def step_time(grad_bytes, compute, ranks, alpha, beta):
    """Forward, then backward with every bucket but the last (the first layers' gradients, ready last) all-reduced
    under it, then that last bucket."""
    sizes = [FIRST_BUCKET] + [BUCKET] * int((grad_bytes - FIRST_BUCKET) // BUCKET)
    rest = grad_bytes - sum(sizes)
    if rest > 0:
        sizes.append(rest)
    last = ring_time(sizes[0], ranks, alpha, beta)
    others = sum(ring_time(s, ranks, alpha, beta) for s in sizes[1:])
    forward, backward = compute / 3, compute * 2 / 3
    return forward + max(backward, others) + last


def cmd_predict(alpha_us, efficiency):
    alpha = alpha_us * 1e-6
    print(f"alpha {alpha_us:g} us; a link carries {efficiency:.2f} of its rate; buckets of 1 MiB then 25 MiB")
    print("| model | step on 1 GPU | link | nodes | step (fp32 grads) | efficiency | step (fp16 grads) | efficiency |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (grad, compute) in MODELS.items():
        for gbit in (10, 100):
            beta = gbit * 1e9 / 8 * efficiency
            for nodes in (8, 64, 512):
                row = f"| {name} | {compute * 1e3:.0f} ms | {gbit} Gbit/s | {nodes} |"
                for g in (grad, grad / 2):
                    t = step_time(g, compute, nodes, alpha, beta)
                    row += f" {t * 1e3:.0f} ms | {compute / t:.2f} |"
                print(row)


def main(argv):
    if len(argv) >= 2 and argv[0] == "fit":
        cmd_fit(argv[1:])
    elif len(argv) >= 3 and argv[0] == "check":
        cmd_check(argv[1], argv[2:])
    elif len(argv) == 3 and argv[0] == "predict":
        cmd_predict(float(argv[1]), float(argv[2]))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
