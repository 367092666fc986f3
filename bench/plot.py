#!/usr/bin/env python3
"""plot.py - SVG figures from the benchmarks' output (optional tooling:
needs python3-matplotlib; the benchmarks themselves do not).

    build/bench/bench > bench.txt
    build/bench/copy_kernels > kernels.txt
    python3 bench/plot.py --bench bench.txt --kernels kernels.txt \
        --out bench/figures --note "AMD EPYC (Zen 5) 2-vCPU VM, 2026-12-01"
    build/bench/bench_dsa > dsa.txt      # root; then also --dsa dsa.txt

Reads the `name value unit ratio x_memcpy` lines and writes
sweep_cost.svg (ns per copy against size), sweep_throughput.svg (GB/s
against size) and copy_kernels.svg. Either input may be left out.
--dsa: dsa_cpu_cost.svg (CPU ns per operation, DSA mover on the emulator)."""
import argparse
import os
import re
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MOVERS = [
    ("plain", "plain memcpy (calling thread)"),
    ("sync", "sync mover"),
    ("threads1", "threads mover, 1 worker"),
    ("threads2", "threads mover, 2 workers"),
    ("threadsdef", "threads mover, default workers"),
]


def parse(path):
    rows = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3 and not line.startswith("#"):
                try:
                    rows[p[0]] = (float(p[1]), p[2],
                                  float(p[3]) if len(p) >= 5 else None)
                except ValueError:
                    pass
    return rows


def size_label(n):
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%d %s" % (n // div, unit)
    return "%d B" % n


def sweep(rows, out, note):
    series = {}
    for name, (v, _, _) in rows.items():
        m = re.match(r"sweep_(\w+?)_(\d+)$", name)
        if m:
            series.setdefault(m.group(1), []).append((int(m.group(2)), v))
    if not series:
        return
    for kind in ("cost", "throughput"):
        fig, ax = plt.subplots(figsize=(8, 5))
        for key, label in MOVERS:
            pts = sorted(series.get(key, []))
            if not pts:
                continue
            xs = [n for n, _ in pts]
            ys = [t for _, t in pts] if kind == "cost" else \
                [n / t for n, t in pts]  # bytes per ns = GB/s
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        xs = sorted({n for s in series.values() for n, _ in s})
        ax.set_xticks(xs)
        ax.set_xticklabels([size_label(n) for n in xs], rotation=45)
        ax.set_xlabel("bytes per copy (one copy after another, "
                      "create + runtime_wait)")
        ax.set_ylabel("ns per copy" if kind == "cost" else "GB/s")
        ax.set_title(("Cost per copy" if kind == "cost" else "Throughput") +
                     (" - " + note if note else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "sweep_%s.svg" % kind))
        plt.close(fig)


def kernels(rows, out, note):
    names = sorted({re.sub(r"_[12]t$", "", k) for k in rows
                    if re.search(r"_[12]t$", k)})
    if not names:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    w = 0.38
    for i, t in enumerate(("1t", "2t")):
        vals = [rows.get("%s_%s" % (n, t), (0, "", 0))[2] or 0
                for n in names]
        ax.bar([j + (i - 0.5) * w for j in range(len(names))], vals, w,
               label="one thread" if t == "1t" else "two threads")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace("_", " ") for n in names])
    ax.set_ylabel("x glibc memcpy of 64 MiB (same run)")
    ax.set_title("Copy kernels, 64 MiB in 2 MiB chunks" +
                 (" - " + note if note else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "copy_kernels.svg"))
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", help="output of build/bench/bench")
    ap.add_argument("--kernels", help="output of build/bench/copy_kernels")
    ap.add_argument("--out", default="bench/figures")
    ap.add_argument("--note", default="", help="machine and date")
    a = ap.parse_args()
    if not a.bench and not a.kernels:
        ap.error("give --bench and/or --kernels")
    os.makedirs(a.out, exist_ok=True)
    if a.bench:
        sweep(parse(a.bench), a.out, a.note)
    if a.kernels:
        kernels(parse(a.kernels), a.out, a.note)
    return 0


def dsa_cpu_cost(path, out, note):
    """bench_dsa output -> dsa_cpu_cost.svg: CPU ns per operation against
    size, submitted one by one vs coalesced (32 in flight): with the
    runtime's waiting (dsa_cpu_*) and the mover's own starts and reaps
    (dsa_mover_*), with plain memcpy of the same buffers for scale."""
    rows = parse(path)
    series = {}
    for name, (v, _, _) in rows.items():
        m = re.match(r"dsa_(cpu|mover)_(memcpy|onebyone|coalesced)_(\d+)([KM]?)$",
                     name)
        if m:
            n = int(m.group(3)) << {"": 0, "K": 10, "M": 20}[m.group(4)]
            key = m.group(2) if m.group(1) == "cpu" else "mover_" + m.group(2)
            series.setdefault(key, []).append((n, v))
    if not series:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, label in (("onebyone", "one descriptor per operation, with waiting"),
                       ("coalesced", "coalesced (batch_max = 0), with waiting"),
                       ("mover_onebyone", "one descriptor per operation, mover only"),
                       ("mover_coalesced", "coalesced, mover only"),
                       ("memcpy", "plain memcpy (same buffers)")):
        pts = sorted(series.get(key, []))
        if pts:
            ax.plot([n for n, _ in pts], [t for _, t in pts], marker="o",
                    label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    xs = sorted({n for s in series.values() for n, _ in s})
    ax.set_xticks(xs)
    ax.set_xticklabels([size_label(n) for n in xs], rotation=45)
    ax.set_xlabel("bytes per operation (32 in flight, runtime_wait_multiple)")
    ax.set_ylabel("CPU ns per operation (submitting thread)")
    ax.set_title("DSA mover, CPU cost per operation, emulated device" +
                 (" - " + note if note else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "dsa_cpu_cost.svg"))
    plt.close(fig)


def dsa_main():
    """--dsa FILE (build/bench/bench_dsa output), handled apart from main()
    so the two stay independent: plots it and takes it out of sys.argv.
    Returns True when nothing is left for main() to do."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--dsa")
    ap.add_argument("--out", default="bench/figures")
    ap.add_argument("--note", default="")
    a, _ = ap.parse_known_args()
    if not a.dsa:
        return False
    os.makedirs(a.out, exist_ok=True)
    dsa_cpu_cost(a.dsa, a.out, a.note)
    argv, i = [], 1
    while i < len(sys.argv):
        if sys.argv[i] == "--dsa":
            i += 2
            continue
        if not sys.argv[i].startswith("--dsa="):
            argv.append(sys.argv[i])
        i += 1
    sys.argv[1:] = argv
    return not any(x.split("=")[0] in ("--bench", "--kernels") for x in argv)


if __name__ == "__main__":
    if dsa_main():
        sys.exit(0)
    sys.exit(main())
