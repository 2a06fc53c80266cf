#!/usr/bin/env python3
"""Every `kiln ...` command of the README and docs/*.md runs as written.

Reads the fenced ```sh / ```bash blocks of README.md and docs/*.md, joins `\\` continuations, drops comments, and
runs each kiln command (also one behind `mpirun ...`) in a scratch folder that holds what the commands expect to
find there: copies of specs/samples, a spec.yaml, a hostfile hosts.txt, a cluster.yaml, my_images/ and a small
trained model where the docs name one. Commands that would train, evaluate or infer (and `cluster check`) get
`--dry-run` appended: kiln then checks them completely (spec, paths, launch options) and prints the resolved spec
and the launch plan without running anything. The others (info, dataset_convert, synth_kitti, prune, export) run
for real. A command that appears twice (README and docs/detection.md) runs once. Exit 1 when any fails.

Usage: doc_commands_test.py KILN_BIN SOURCE_DIR [--keep]   (ctest: ctest -L docs)
"""
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

# Subcommands checked with --dry-run appended (they would train, evaluate, infer or start ranks).
DRY_RUN = {("train",), ("evaluate",), ("inference",), ("cluster", "check")}

# Wrappers in front of kiln that this test cannot run, and why; the kiln command behind them is still dry-run.
# Keep this list short: everything else runs.
UNCHECKED_WRAPPERS = {
    "srun": "needs a Slurm cluster; tests/slurm/srun_test.sh runs `srun -n 2 --mpi=pmix kiln ...` on a private one",
}
# Programs after `&&` that are not kiln and are left out here, and why.
UNCHECKED_PROGRAMS = {
    "sbatch": "submits to a Slurm cluster; tests/slurm/sbatch_test.sh submits kiln's --emit-sbatch scripts",
    "./setup.sh": "installs packages and builds (what produced the kiln under test)",
    "tools/default_job.sh": "the whole default job (minutes); tests/e2e covers its steps",
    "ctest": "the test suite this test is part of",
}

CLUSTER_YAML = """# What the docs' `-c cluster.yaml` examples assume: two hosts, Slurm.
name: docs-cluster
launcher: slurm
nodes:
  - host: node01
    slots: 2
  - host: node02
    slots: 2
slurm: {partition: gpu, time: "01:00:00"}
"""
HOSTFILE = "node01 slots=2\nnode02 slots=2\nnode03 slots=2\n"


def doc_files(source):
    docs = os.path.join(source, "docs")
    return [os.path.join(source, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))


def shell_lines(path):
    """(line number, logical line) of every line in ```sh / ```bash blocks, continuations joined."""
    out, fence, pending, start = [], None, "", 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if stripped.startswith("```"):
                fence = None if fence is not None else stripped[3:].strip()
                continue
            if fence not in ("sh", "bash", "shell"):
                continue
            if not pending:
                start = number
            if line.rstrip("\n").endswith("\\"):
                pending += line.rstrip("\n")[:-1] + " "
                continue
            out.append((start, pending + line.rstrip("\n")))
            pending = ""
    return out


def kiln_commands(line):
    """The kiln commands of one shell line: [(wrapper words, kiln words)], plus the other programs in it."""
    words = shlex.split(line, comments=True)
    segments, current = [], []
    for w in words:
        if w in ("&&", "||", ";"):
            segments.append(current)
            current = []
        else:
            current.append(w)
    segments.append(current)
    commands, others = [], []
    for seg in segments:
        if not seg:
            continue
        if seg[0] == "kiln":
            commands.append(([], seg[1:]))
        elif seg[0] in ("mpirun", "srun") and "kiln" in seg:
            i = seg.index("kiln")
            commands.append((seg[:i], seg[i + 1:]))
        elif "kiln" in seg:
            others.append(seg[0])  # e.g. KILN=build/kiln bench/prune_study.sh: a script, not a kiln command
        else:
            others.append(seg[0])
    return commands, others


def write_png(path, width, height, pixel):
    """A grey PNG of width x height (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(width)) for y in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def run(argv, cwd, env, log):
    started = time.time()
    p = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.write("$ " + shlex.join(argv) + "\n" + p.stdout + f"(exit {p.returncode}, {time.time() - started:.1f} s)\n")
    return p


def set_up(work, source, kiln, env, log):
    """What the documented commands expect to find in the folder they are typed in."""
    shutil.copytree(os.path.join(source, "specs", "samples"), os.path.join(work, "specs", "samples"))
    sample = os.path.join(work, "specs", "samples", "classification_lenet5_fmnist.yaml")
    shutil.copy(sample, os.path.join(work, "spec.yaml"))
    with open(os.path.join(work, "hosts.txt"), "w") as f:
        f.write(HOSTFILE)
    with open(os.path.join(work, "cluster.yaml"), "w") as f:
        f.write(CLUSTER_YAML)
    os.makedirs(os.path.join(work, "my_images"))
    for i in range(3):
        write_png(os.path.join(work, "my_images", f"item{i}.png"), 28, 28, lambda x, y, i=i: (x * 9 + y * i) % 256)
    # The trained model the docs prune, export and infer with: one short epoch.
    p = run([kiln, "classification", "train", "-e", "spec.yaml", "-r", "results/lenet5", "train_config.n_epochs=1",
             "dataset_config.train.max_samples=500", "dataset_config.val.max_samples=100"], work, env, log)
    if p.returncode != 0:
        sys.exit("setup: training the model the docs use failed:\n" + p.stdout)
    os.makedirs(os.path.join(work, "results", "retrain"))
    shutil.copy(os.path.join(work, "results", "lenet5", "model.kiln"),
                os.path.join(work, "results", "retrain", "model.kiln"))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    kiln, source = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    keep = "--keep" in sys.argv[3:]
    work = tempfile.mkdtemp(prefix="kiln_doc_commands_")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(kiln) + os.pathsep + env.get("PATH", "")  # README: export PATH=$PWD/build:$PATH
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "KILN_PROGRESS": "plain"})
    log_path = os.path.join(work, "commands.log")
    failures, seen, checked = [], {}, 0
    with open(log_path, "w") as log:
        set_up(work, source, kiln, env, log)
        for path in doc_files(source):
            name = os.path.relpath(path, source)
            for number, line in shell_lines(path):
                where = f"{name}:{number}"
                try:
                    commands, others = kiln_commands(line)
                except ValueError as e:
                    failures.append((where, line, f"not valid shell: {e}"))
                    continue
                for program in others:
                    if program not in UNCHECKED_PROGRAMS and commands:
                        failures.append((where, line, f"'{program}' follows a kiln command and is neither run nor "
                                                      "listed in UNCHECKED_PROGRAMS"))
                for wrapper, words in commands:
                    key = shlex.join(wrapper + ["kiln"] + words)
                    if key in seen:
                        print(f"same   {where}: checked at {seen[key]}")
                        continue
                    seen[key] = where
                    argv = ["kiln"] + words
                    dry = tuple(words[1:2]) in DRY_RUN or tuple(words[:2]) in DRY_RUN
                    if dry and "--dry-run" not in argv:
                        argv.append("--dry-run")
                    note = ""
                    if wrapper and wrapper[0] in UNCHECKED_WRAPPERS:
                        note = f" (without '{wrapper[0]}': {UNCHECKED_WRAPPERS[wrapper[0]]})"
                    elif wrapper:
                        argv = wrapper + argv
                    argv[argv.index("kiln")] = kiln
                    p = run(argv, work, env, log)
                    checked += 1
                    mode = "dry-run" if dry else "ran"
                    if p.returncode != 0:
                        failures.append((where, line, f"exit {p.returncode}:\n" + p.stdout[-3000:]))
                        print(f"FAIL   {where}: {key}")
                    else:
                        print(f"ok     {where}: {mode} {key}{note}")
    print(f"\n{checked} documented kiln commands checked; log: {log_path}")
    for program, why in sorted(UNCHECKED_PROGRAMS.items()):
        print(f"not run: {program}: {why}")
    for where, line, why in failures:
        print(f"\nFAILED {where}: {line.strip()}\n  {why}", file=sys.stderr)
    if not failures and not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
