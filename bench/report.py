"""Run every benchmark and write the report: Markdown tables, PNG plots, README section.

Usage::

    python -m bench.report [--quick] [--output bench/results]

Steps:

1. the pytest-benchmark suites (``bench/test_bench_lenet.py``,
   ``bench/test_bench_kernels.py``) with ``--benchmark-enable`` and
   ``--benchmark-json``, in ``full`` mode (``quick`` with ``--quick``);
2. the targets, each ratio timed in interleaved rounds
   (:mod:`bench.targets`);
3. the time to a new process's first training step, cold and warm kernel
   cache (:mod:`bench.compile_time`);
4. memory growth over 1000 training steps (:mod:`bench.memory`);
5. ``report.md``, ``results.json``, ``lenet_speedup.png`` and
   ``kernel_speedup.png`` in the output directory, and the README section
   between ``<!-- bench-report -->`` and ``<!-- /bench-report -->``.

``results.json`` keeps every figure of the run (the suites' minimum and
median times included), so ``--reuse`` can rebuild the report, plots and
README section without measuring anything.  ``benchmarks.json`` (the raw
pytest-benchmark output) and ``pytest.log`` are left next to it for
inspection.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import time

from . import backends  # noqa: F401  (imports PyTorch before numba starts its threads)
from . import targets
from .machine import BUSY_THRESHOLD, CpuMonitor, wait_idle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join("bench", "results")
README_START = "<!-- bench-report -->"
README_END = "<!-- /bench-report -->"
BUSY_MARK = " ⚠"
SUITES = ["bench/test_bench_lenet.py", "bench/test_bench_kernels.py"]

# Column order of the tables: (backend, threads); threads None = not set.
LENET_COLUMNS = [
    ("reference", None), ("im2col", None), ("torch", 1), ("torch", 2), ("fastlayers", 1), ("fastlayers", 2),
]
KERNEL_BACKEND_ORDER = ["reference", "im2col", "torch", "fastlayers", "fastlayers-kernel"]
BACKEND_NAMES = {
    "reference": "reference (scipy loops)",
    "im2col": "NumPy im2col",
    "torch": "PyTorch",
    "fastlayers": "fastlayers layer",
    "fastlayers-kernel": "fastlayers kernel",
}


def log(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------
# Machine and versions
# ---------------------------------------------------------------------------


def _version(module_name):
    try:
        module = __import__(module_name)
    except ImportError:
        return None
    return getattr(module, "__version__", "?")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit():
    """Short commit id, with a note when fastlayers/ differs from it; None outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
        commit = out.stdout.strip()
        if not commit:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--", "fastlayers"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10)
        return commit + (" + uncommitted changes in fastlayers/" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info():
    import numba

    import fastlayers

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "fastlayers": fastlayers.__version__,
        "numpy": _version("numpy"),
        "numba": numba.__version__,
        "scipy": _version("scipy"),
        "torch": _version("torch"),
        "pytest_benchmark": _version("pytest_benchmark"),
        "numba_threading_layer": fastlayers.threading_layer(),
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "git_commit": _git_commit(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if info["torch"] is not None:
        import torch

        info["torch_num_threads"] = torch.get_num_threads()
    try:
        import threadpoolctl

        blas = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        info["numpy_blas"] = ", ".join(
            f"{p['internal_api']} {p.get('version')} ({p['num_threads']} threads)" for p in blas
        )
    except ImportError:
        info["numpy_blas"] = None
    return info


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


def run_suites(mode, out_dir):
    """Run the pytest-benchmark suites; return (path of the JSON, exit code)."""
    json_path = os.path.join(out_dir, "benchmarks.json")
    log_path = os.path.join(out_dir, "pytest.log")
    cmd = [
        sys.executable, "-m", "pytest", *SUITES,
        "--benchmark-enable", f"--benchmark-json={json_path}",
        "--benchmark-sort=name", "--benchmark-columns=min,median,rounds,iterations",
        "-q", "-p", "no:cacheprovider",
    ]
    env = dict(os.environ, FASTLAYERS_BENCH=mode)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log(f"[1/4] pytest-benchmark suites ({mode}); log: {log_path}")
    start = time.perf_counter()
    with open(log_path, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    log(f"      done in {time.perf_counter() - start:.0f} s, exit code {code}")
    return json_path, code


def load_benchmarks(path):
    """Rows of the pytest-benchmark JSON: the case's extra_info plus its statistics."""
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        data = json.load(fh)
    rows = []
    for bench in data.get("benchmarks", []):
        info = dict(bench.get("extra_info", {}))
        if "suite" not in info:
            continue
        stats = bench["stats"]
        info.update(min=stats["min"], median=stats["median"], mean=stats["mean"],
                    rounds=stats["rounds"], iterations=stats.get("iterations", 1), name=bench["name"])
        rows.append(info)
    return rows


def measure_targets(quick):
    log("[2/4] targets (interleaved rounds)")
    lenet_seconds = 2.0 if quick else 6.0
    kernel_seconds = 0.75 if quick else 2.0
    return targets.lenet_targets(lenet_seconds, log=log) + targets.kernel_targets(kernel_seconds, log=log)


def measure_compile(quick):
    from . import compile_time

    log("[3/4] first training step of a new process, cold and warm kernel cache")
    return compile_time.measure(("float64", "float32"), warm_runs=1 if quick else 3, log=lambda m: log("    " + m))


def measure_memory(quick):
    from . import memory

    log("[4/4] memory growth over 1000 LeNet steps")
    results = []
    for dtype in ("float64", "float32"):
        r = memory.measure_in_subprocess(steps=1000, batch=64, dtype=dtype)
        log(f"      {dtype}: RSS peak growth {r['rss_robust_growth_per_step']:+.1f} B/step, numba runtime "
            f"{r['nrt_unfreed_per_step']} unfreed allocations/step, "
            f"tracemalloc {r['traced_growth_per_step']:+.2f} B/step")
        results.append(r)
    return results


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def fmt_time(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def fmt_ratio(value):
    if value is None or not math.isfinite(value):
        return "–"
    if value >= 100:
        return f"{value:.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def fmt_share(value):
    return "–" if value is None else f"{value:.0%}"


def fmt_rate(value):
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.0f}"


def markdown_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


class Results:
    """Index of the suite rows by (suite, layer, batch, dtype, op, backend, threads)."""

    def __init__(self, rows):
        self.rows = rows
        self.index = {
            (r["suite"], r["layer"], r["batch"], r["dtype"], r["op"], r["backend"], r["threads"]): r
            for r in rows
        }

    def time(self, suite, layer, batch, dtype, op, backend, threads):
        row = self.index.get((suite, layer, batch, dtype, op, backend, threads))
        return None if row is None else row["min"]

    def busy(self, suite, layer, batch, dtype, op, backend, threads):
        """True when other processes used much of the CPUs while this case was timed."""
        row = self.index.get((suite, layer, batch, dtype, op, backend, threads))
        share = None if row is None else row.get("others_cpu")
        return share is not None and share > BUSY_THRESHOLD

    def any_busy(self):
        return any((r.get("others_cpu") or 0) > BUSY_THRESHOLD for r in self.rows)

    def keys(self, suite):
        seen = []
        for r in self.rows:
            key = (r["layer"], r["batch"], r["dtype"], r["op"])
            if r["suite"] == suite and key not in seen:
                seen.append(key)
        return seen


def _col_name(backend, threads):
    name = BACKEND_NAMES.get(backend, backend)
    return name if threads is None else f"{name} {threads}t"


def lenet_table(res, threads_fast=2):
    """Throughput (samples/s) per backend and batch, and fastlayers' speedups."""
    names = {"reference": "reference", "im2col": "NumPy im2col", "torch": "PyTorch", "fastlayers": "fastlayers"}
    header = ["dtype", "batch"] + [names[b] + ("" if t is None else f" {t}t") for b, t in LENET_COLUMNS] + [
        f"fastlayers {threads_fast}t vs reference",
        f"vs im2col",
        "vs PyTorch (1t each)",
        f"vs PyTorch ({threads_fast}t each)",
    ]
    rows = []
    keys = sorted({(k[2], k[1]) for k in res.keys("lenet")}, key=lambda k: (k[0], k[1]))
    for dtype, batch in keys:
        t = {col: res.time("lenet", "lenet", batch, dtype, "step", *col) for col in LENET_COLUMNS}
        rate = {col: (batch / v if v else None) for col, v in t.items()}
        fast = t[("fastlayers", threads_fast)]
        mark = {col: BUSY_MARK if res.busy("lenet", "lenet", batch, dtype, "step", *col) else ""
                for col in LENET_COLUMNS}
        rows.append([
            dtype, batch, *[fmt_rate(rate[col]) + mark[col] for col in LENET_COLUMNS],
            fmt_ratio(_ratio(t[("reference", None)], fast)),
            fmt_ratio(_ratio(t[("im2col", None)], fast)),
            fmt_ratio(_ratio(t[("torch", 1)], t[("fastlayers", 1)])),
            fmt_ratio(_ratio(t[("torch", threads_fast)], fast)),
        ])
    return markdown_table(header, rows, ["l", "r"] + ["r"] * (len(header) - 2))


def kernel_table(res, suite, threads):
    """Minimum times per backend at ``threads`` threads and the fastlayers kernel's speedups."""
    present = {(r["backend"]) for r in res.rows if r["suite"] == suite}
    backends = [b for b in KERNEL_BACKEND_ORDER if b in present]
    header = ["shape", "batch", "dtype", "op"] + [
        _col_name(b, threads if b in ("torch", "fastlayers", "fastlayers-kernel") else None) for b in backends
    ]
    fast_backend = "fastlayers-kernel"
    speedups = [b for b in ("torch", "im2col", "reference") if b in backends]
    header += [f"kernel vs {BACKEND_NAMES[b].split(' (')[0]}" for b in speedups]
    layer_vs_torch = "fastlayers" in backends and "torch" in backends
    if layer_vs_torch:
        header.append("layer vs PyTorch")
    rows = []
    labels = {r["layer"]: r.get("label", r["layer"]) for r in res.rows if r["suite"] == suite}
    for layer, batch, dtype, op in res.keys(suite):
        def t(backend):
            n = threads if backend in ("torch", "fastlayers", "fastlayers-kernel") else None
            return res.time(suite, layer, batch, dtype, op, backend, n)

        times = {b: t(b) for b in backends}
        if all(v is None for v in times.values()):
            continue
        marks = {}
        for b in backends:
            n = threads if b in ("torch", "fastlayers", "fastlayers-kernel") else None
            marks[b] = BUSY_MARK if res.busy(suite, layer, batch, dtype, op, b, n) else ""
        row = [labels[layer], batch, dtype, op] + [fmt_time(times[b]) + marks[b] for b in backends]
        row += [fmt_ratio(_ratio(times[b], times.get(fast_backend))) for b in speedups]
        if layer_vs_torch:
            row.append(fmt_ratio(_ratio(times["torch"], times["fastlayers"])))
        rows.append(row)
    return markdown_table(header, rows, ["l", "r", "l", "l"] + ["r"] * (len(header) - 4))


def suite_ratio(res, row):
    """The ratio of a target computed from the suite tables, when they have both sides."""
    kind = row["kind"]
    if kind == "lenet-vs-torch":
        dtype = "float32" if "float32" in row["target"] else "float64"
        return _ratio(res.time("lenet", "lenet", 64, dtype, "step", "torch", 2),
                      res.time("lenet", "lenet", 64, dtype, "step", "fastlayers", 2))
    if kind == "threads":
        dtype = "float32" if "float32" in row["target"] else "float64"
        return _ratio(res.time("lenet", "lenet", 64, dtype, "step", "fastlayers", 1),
                      res.time("lenet", "lenet", 64, dtype, "step", "fastlayers", 2))
    if kind == "lenet-vs-reference":
        return _ratio(res.time("lenet", "lenet", 64, "float64", "step", "reference", None),
                      res.time("lenet", "lenet", 64, "float64", "step", "fastlayers", 2))
    if kind == "kernel-vs-torch" and "layer" in row:
        return _ratio(res.time("conv", row["layer"], 64, row["dtype"], row["op"], "torch", 2),
                      res.time("conv", row["layer"], 64, row["dtype"], row["op"], "fastlayers-kernel", 2))
    return None


def _fmt_target_value(row, value):
    if row["kind"] == "compile":
        return f"{value:.2f} s"
    if row["kind"] == "memory":
        return f"{value:+.2f} B/step"
    return fmt_ratio(value)


def _fmt_threshold(row):
    if row["kind"] == "compile":
        return f"≤ {row['threshold']:.0f} s"
    if row["kind"] == "memory":
        return f"≤ {row['threshold']:.0f} B/step"
    return f"≥ {row['threshold']:g}x"


def targets_table(rows, res):
    header = ["target", "threshold", "measured", "result", "suite tables", "others' CPU", "notes"]
    out = []
    for row in rows:
        notes = []
        for key, value in row["info"].items():
            notes.append(f"{key}: {fmt_ratio(value)}")
        notes += row.get("notes", [])
        if row.get("skip_reason"):
            notes.append(row["skip_reason"])
        measured = "–" if row["result"] == "SKIP" else _fmt_target_value(row, row["ratio"])
        suite = suite_ratio(res, row)
        out.append([row["target"], _fmt_threshold(row), measured, f"**{row['result']}**",
                    fmt_ratio(suite) if suite else "–", fmt_share(row.get("others_cpu")),
                    "; ".join(notes)])
    return markdown_table(header, out, ["l", "r", "r", "c", "r", "r", "l"])


def condensed_targets(rows):
    """The targets with the kernel rows folded into one row per shape (its worst case)."""
    out = []
    groups = {}
    for row in rows:
        if row["kind"] != "kernel-vs-torch" or "layer" not in row:
            out.append(row)
            continue
        if row["layer"] not in groups:
            groups[row["layer"]] = []
            out.append(("group", row["layer"]))
        groups[row["layer"]].append(row)
    folded = []
    for item in out:
        if not (isinstance(item, tuple) and item[0] == "group"):
            folded.append(item)
            continue
        members = groups[item[1]]
        measured = [r for r in members if r["result"] != "SKIP"]
        label = members[0]["target"].split(",")[0]
        name = (f"{label}, batch 64, forward / grad_input / grad_weights, float32 and float64: "
                f"PyTorch time / fastlayers kernel time, worst of {len(members)}")
        if not measured:
            folded.append(dict(members[0], target=name))
            continue
        worst = min(measured, key=lambda r: r["ratio"])
        passed = sum(r["result"] == "PASS" for r in measured)
        folded.append(dict(
            target=name, kind="kernel-vs-torch", threshold=worst["threshold"], ratio=worst["ratio"],
            result="PASS" if passed == len(measured) else "MISS",
            info={f"worst: {worst['op']} {worst['dtype']}; passed {passed} of {len(measured)}; best": max(
                r["ratio"] for r in measured)},
            skip_reason=None, others_cpu=max((r.get("others_cpu") or 0) for r in measured),
        ))
    return folded


def compile_table(results):
    header = ["dtype", "cold cache", "warm cache", "import (warm)", "first step (cold)", "first step (warm)",
              "second step"]
    rows = []
    for r in results:
        warm = r["warm"][len(r["warm"]) // 2] if r["warm"] else {}
        rows.append([
            r["dtype"], f"{r['cold_s']:.2f} s", f"{r['warm_s']:.2f} s (median of {len(r['warm'])})",
            f"{warm.get('import_s', math.nan):.2f} s", f"{r['cold']['first_step_s']:.2f} s",
            f"{warm.get('first_step_s', math.nan):.2f} s", fmt_time(r["cold"].get("second_step_s")),
        ])
    return markdown_table(header, rows)


def memory_table(results):
    header = ["dtype", "steps", "batch", "RSS start", "RSS end", "RSS peak growth", "RSS slope",
              "numba runtime: unfreed allocations", "tracemalloc growth", "time per step"]
    rows = []
    for r in results:
        nrt = r.get("nrt_unfreed_per_step")
        rows.append([
            r["dtype"], r["steps"], r["batch"], f"{r['rss_start'] / 2**20:.1f} MiB",
            f"{r['rss_end'] / 2**20:.1f} MiB", f"{r['rss_robust_growth_per_step']:+.0f} B/step",
            f"{r['rss_slope_per_step']:+.0f} B/step", "n/a" if nrt is None else f"{nrt:g} per step",
            f"{r['traced_growth_per_step']:+.2f} B/step", fmt_time(r["seconds_per_step"]),
        ])
    return markdown_table(header, rows)


def machine_table(info, mode):
    items = [
        ("date", info["date"]),
        ("CPU", f"{info['cpu']}, {info['logical_cores']} logical cores ({info['usable_cores']} usable)"),
        ("OS", info["os"]),
        ("Python", info["python"]),
        ("fastlayers", f"{info['fastlayers']}" + (f" (commit {info['git_commit']})" if info.get("git_commit") else "")),
        ("NumPy", f"{info['numpy']}" + (f", BLAS: {info['numpy_blas']}" if info.get("numpy_blas") else "")),
        ("numba", f"{info['numba']}, threading layer {info['numba_threading_layer']}, "
                  f"NUMBA_NUM_THREADS={info['numba_num_threads']}"),
        ("SciPy", info["scipy"]),
        ("PyTorch", "not installed" if info["torch"] is None
         else f"{info['torch']} ({info.get('torch_num_threads')} threads by default)"),
        ("pytest-benchmark", info["pytest_benchmark"]),
        ("mode", mode),
    ]
    for phase, share in (info.get("others_cpu") or {}).items():
        items.append((f"other processes' CPU share: {phase}", fmt_share(share)))
    if info.get("load_average"):
        items.append(("load average at start", ", ".join(f"{v:.2f}" for v in info["load_average"])))
    if info.get("load_average_end"):
        items.append(("load average at end", ", ".join(f"{v:.2f}" for v in info["load_average_end"])))
    return markdown_table(["", ""], [[k, v] for k, v in items], ["l", "l"])


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------


def _batch_axes(ax, batches, title, ylabel):
    """Log-log axes over the batch sizes, with a dotted line at 1x."""
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_title(title)
    ax.set_xlabel("batch size")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def plot_lenet(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dtypes = ["float32", "float64"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), squeeze=False)
    styles = {
        ("reference", None): ("tab:gray", "o", "reference (scipy loops)"),
        ("torch", 1): ("tab:orange", "s", "PyTorch 1 thread"),
        ("torch", 2): ("tab:red", "s", "PyTorch 2 threads"),
        ("fastlayers", 1): ("tab:cyan", "^", "fastlayers 1 thread"),
        ("fastlayers", 2): ("tab:blue", "^", "fastlayers 2 threads"),
    }
    batches = sorted({k[1] for k in res.keys("lenet")})
    for col, dtype in enumerate(dtypes):
        ax = axes[0][col]
        for key, (color, marker, label) in styles.items():
            xs, ys = [], []
            for b in batches:
                base = res.time("lenet", "lenet", b, dtype, "step", "im2col", None)
                t = res.time("lenet", "lenet", b, dtype, "step", *key)
                if base and t:
                    xs.append(b)
                    ys.append(base / t)
            if xs:
                ax.plot(xs, ys, marker=marker, color=color, label=label)
        _batch_axes(ax, batches, f"LeNet training step, {dtype}: speedup over NumPy im2col",
                    "throughput / im2col throughput")

        ax = axes[1][col]
        for n, color in ((1, "tab:cyan"), (2, "tab:blue")):
            xs, ys = [], []
            for b in batches:
                t_torch = res.time("lenet", "lenet", b, dtype, "step", "torch", n)
                t_fast = res.time("lenet", "lenet", b, dtype, "step", "fastlayers", n)
                if t_torch and t_fast:
                    xs.append(b)
                    ys.append(t_torch / t_fast)
            if xs:
                ax.plot(xs, ys, marker="^", color=color, label=f"{n} thread{'s' if n > 1 else ''} each")
        target = targets.LENET_VS_TORCH[dtype]
        ax.axhline(target, color="tab:green", ls="--", lw=1, label=f"target at batch 64, 2 threads ({target}x)")
        _batch_axes(ax, batches, f"LeNet training step, {dtype}: fastlayers / PyTorch throughput",
                    "speedup over PyTorch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_kernels(res, path, batch=64, threads=2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    comparisons = [
        # (fast backend, other backend, other's threads, label, colour)
        ("fastlayers-kernel", "torch", threads, "fastlayers kernel vs PyTorch", "tab:red"),
        ("fastlayers", "torch", threads, "fastlayers layer vs PyTorch", "tab:purple"),
        ("fastlayers-kernel", "im2col", None, "fastlayers kernel vs NumPy im2col", "tab:orange"),
    ]

    def speedup(suite, layer, dtype, op, fast, other, n):
        t_fast = res.time(suite, layer, batch, dtype, op, fast, threads)
        t_other = res.time(suite, layer, batch, dtype, op, other, n)
        return t_other / t_fast if t_fast and t_other else np.nan

    categories = []
    for suite in ("conv", "pool", "upsample"):
        for layer, b, dtype, op in res.keys(suite):
            if b != batch or (suite, layer, op) in categories:
                continue
            if any(np.isfinite(speedup(suite, layer, d, op, *c[:3]))
                   for c in comparisons for d in ("float32", "float64")):
                categories.append((suite, layer, op))
    if not categories:
        return False
    fig, axes = plt.subplots(2, 1, figsize=(max(10, 0.6 * len(categories) + 3), 9), squeeze=False)
    width = 0.8 / len(comparisons)
    x = np.arange(len(categories))
    for row, dtype in enumerate(("float32", "float64")):
        ax = axes[row][0]
        for i, (fast, other, n, label, color) in enumerate(comparisons):
            values = [speedup(suite, layer, dtype, op, fast, other, n) for suite, layer, op in categories]
            ax.bar(x + (i - (len(comparisons) - 1) / 2) * width, values, width, label=label, color=color)
        ax.axhline(1.0, color="k", lw=0.8)
        cifar = targets.KERNEL_VS_TORCH["cifar-conv1"]
        ax.axhline(cifar, color="tab:green", lw=0.8, ls="--", label=f"{cifar}x (CIFAR target vs PyTorch)")
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{layer}\n{op}" for _, layer, op in categories], rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("speedup (time of other / time of fastlayers)")
        ax.set_title(f"Kernels at batch {batch}, {dtype}, {threads} threads for PyTorch and fastlayers")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

BUSY_NOTE = f"""\
**The machine was shared while this ran.**  Other processes used more than
{BUSY_THRESHOLD:.0%} of the CPUs during some measurements (marked{BUSY_MARK}
in the tables; the targets table gives the share for each target).  A
multi-threaded run loses most to such contention: each parallel region
waits for its slowest thread, and a thread that has lost its core waits
for the scheduler.  Treat the 2-thread figures of marked rows as lower
bounds, and rerun with `--wait-idle 600` on a quiet machine."""

METHOD = """\
Every figure is the minimum over many timed calls of one operation after a
warm-up (compilation is never timed): on a shared machine the minimum is
the figure least disturbed by other processes.  The tables come from the
pytest-benchmark suites (`bench/test_bench_*.py`, one case after the other);
each target ratio is measured again with its two sides timed in
alternating rounds (`bench/targets.py`), so that both see the same load;
the "suite tables" column gives the same ratio from the tables, and
"others' CPU" the share of all CPUs' time that other processes (and
hypervisor steal) took while the target was measured.  Throughput
is samples per second of a training step: forward, backward and SGD update
of every layer, loss summed over the batch.

Backends: *reference* is `fastlayers.reference` (the tutorial's Python
loops over `scipy.signal`; for the convolution's input and weight gradients
alone, the two loops of its `backward`); *NumPy im2col* is `bench/im2col.py`
(`sliding_window_view` + `tensordot`); *fastlayers layer* times what users
call (`layer.forward`, `layer.backward`, and `backward_parameters` for the
weight gradients alone); *fastlayers kernel* the raw `fastlayers.kernels`
functions on arrays already in their (c, h, w, b) layout (`grad_input` is
the kernel call the layer makes at stride 1, a correlation of the padded
error with the flipped kernels; `grad_input_gather` is the general strided
kernel `conv2d_grad_input`); *PyTorch* the ATen operators
(`conv2d`, `convolution_backward`, `max_pool2d_with_indices` and its
backward) and, for the training step, the same LeNet as `nn.Sequential`
with `cross_entropy(reduction="sum")` and `optim.SGD`.  Thread counts are
set with `numba.set_num_threads` and `torch.set_num_threads`; the NumPy and
SciPy backends set none (NumPy's BLAS, used by the im2col `tensordot`, keeps
its own pool).

The reference layers are slow by design, so they run on a smaller set:
the LeNet convolution and pooling kernels at batch 1 and 16, the CIFAR
convolutions at batch 1, and the LeNet step at batch 16 and 64.
"""


def build_report(info, mode, res, target_rows, compile_results, memory_results, out_dir, plots):
    parts = ["# fastlayers benchmarks", "",
             "Generated by `python -m bench.report" + (" --quick" if mode == "quick" else "") + "`; "
             "do not edit by hand.", "", "## Machine", "", machine_table(info, mode), ""]
    busy_phases = [k for k, v in (info.get("others_cpu") or {}).items() if v is not None and v > BUSY_THRESHOLD]
    if busy_phases or res.any_busy() or any((r.get("others_cpu") or 0) > BUSY_THRESHOLD for r in target_rows):
        parts += [BUSY_NOTE, ""]
    if target_rows:
        parts += ["## Targets", "", targets_table(target_rows, res), ""]
    if res.keys("lenet"):
        parts += ["## LeNet training step", "",
                  "Throughput in samples/s (higher is better) and the speedups of fastlayers.", "",
                  lenet_table(res), ""]
        if plots.get("lenet"):
            parts += [f"![LeNet speedups]({os.path.basename(plots['lenet'])})", ""]
    if compile_results:
        parts += ["## Compile time", "",
                  "A new process imports fastlayers, builds LeNet (batch 64) and trains one step; "
                  "wall time from starting the process, with `NUMBA_CACHE_DIR` set to an empty "
                  "directory (cold) and to the same directory again (warm).", "",
                  compile_table(compile_results), ""]
    if memory_results:
        parts += ["## Memory", "",
                  "1000 training steps after a warm-up of 200, in a process of their own, twice: once "
                  "sampling the resident set size (RSS) and counting the allocations of numba's runtime, "
                  "once under tracemalloc.  RSS swings by megabytes as the allocator maps and unmaps "
                  "large blocks, so its figure is the rise of its peak from the first half of the steps "
                  "to the second; tracemalloc and numba's counters see every allocation.", "",
                  memory_table(memory_results), ""]
    titles = {"conv": "Convolution kernels", "pool": "Max pooling", "upsample": "Strided upsampling (x2)"}
    for suite, title in titles.items():
        if not res.keys(suite):
            continue
        parts += [f"## {title}", ""]
        for n in (2, 1):
            parts += [f"### {n} thread{'s' if n > 1 else ''} (PyTorch and fastlayers)", "",
                      kernel_table(res, suite, n), ""]
        if suite == "conv" and plots.get("kernels"):
            parts += [f"![kernel speedups]({os.path.basename(plots['kernels'])})", ""]
    parts += ["## Method", "", METHOD]
    return "\n".join(parts)


def readme_section(info, mode, res, target_rows, compile_results, memory_results, out_dir, plots, readme_path):
    rel = os.path.relpath(out_dir, os.path.dirname(os.path.abspath(readme_path))).replace(os.sep, "/")
    lines = [
        f"Generated by `python -m bench.report` on {info['date']}: {info['cpu']}, "
        f"{info['usable_cores']} cores, Python {info['python'].split()[-1]}, NumPy {info['numpy']}, "
        f"numba {info['numba']}, PyTorch {info['torch'] or 'not installed'}. "
        f"Full tables: [{rel}/report.md]({rel}/report.md).",
        "",
    ]
    if res.any_busy() or any((r.get("others_cpu") or 0) > BUSY_THRESHOLD for r in target_rows):
        lines += [BUSY_NOTE, ""]
    if target_rows:
        lines += [targets_table(condensed_targets(target_rows), res), ""]
    if res.keys("lenet"):
        lines += ["LeNet training step, samples/s:", "", lenet_table(res), ""]
    if compile_results:
        lines += ["Time from starting a new process to the end of its first LeNet training step:", "",
                  compile_table(compile_results), ""]
    for key, alt in (("lenet", "LeNet speedups"), ("kernels", "kernel speedups")):
        if plots.get(key):
            lines.append(f"![{alt}]({rel}/{os.path.basename(plots[key])})")
    return "\n".join(lines).rstrip() + "\n"


def update_readme(readme_path, section):
    if not os.path.exists(readme_path):
        log(f"README not found at {readme_path}: not updated")
        return False
    with open(readme_path, encoding="utf-8") as fh:
        text = fh.read()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        log(f"{readme_path} has no '{README_START}' ... '{README_END}' markers: README not updated")
        return False
    new = pattern.sub(lambda _: f"{README_START}\n{section}{README_END}", text, count=1)
    if new != text:
        with open(readme_path, "w", encoding="utf-8") as fh:
            fh.write(new)
    log(f"updated the benchmark section of {readme_path}")
    return True


def print_summary(target_rows, compile_results, memory_results, files):
    log("")
    log("Targets:")
    for row in target_rows:
        value = "–" if row["result"] == "SKIP" else _fmt_target_value(row, row["ratio"])
        log(f"  {row['result']:4}  {value:>12}  (need {_fmt_threshold(row)})  {row['target']}")
    for r in compile_results:
        log(f"  compile {r['dtype']}: cold {r['cold_s']:.2f} s, warm {r['warm_s']:.2f} s")
    for r in memory_results:
        log(f"  memory {r['dtype']}: RSS peak growth {r['rss_robust_growth_per_step']:+.1f} B/step, "
            f"numba runtime {r['nrt_unfreed_per_step']} unfreed allocations/step, "
            f"tracemalloc {r['traced_growth_per_step']:+.2f} B/step")
    log("")
    log("Files:")
    for path in files:
        log(f"  {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the fastlayers benchmarks and write the report.")
    parser.add_argument("--quick", action="store_true", help="a reduced run: batch 64 shapes, fewer rounds")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="output directory (default bench/results)")
    parser.add_argument("--readme", default=os.path.join(ROOT, "README.md"), help="README to update")
    parser.add_argument("--no-readme", action="store_true", help="leave the README alone")
    parser.add_argument("--reuse", action="store_true",
                        help="measure nothing: rebuild the report from the JSON files in the output directory")
    parser.add_argument("--skip-suites", action="store_true", help="do not run the pytest-benchmark suites")
    parser.add_argument("--skip-targets", action="store_true", help="do not measure the targets")
    parser.add_argument("--skip-compile", action="store_true", help="do not measure compile time")
    parser.add_argument("--skip-memory", action="store_true", help="do not measure memory growth")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each timed case, wait up to SECONDS for other processes to leave "
                             "the CPUs alone (default 0: do not wait)")
    parser.add_argument("--wait-total", type=float, default=1800.0, metavar="SECONDS",
                        help="stop waiting for a quiet machine once the suites, or the targets, have "
                             "waited this long in all (default 1800)")
    args = parser.parse_args(argv)

    out_dir = args.output if os.path.isabs(args.output) else os.path.join(ROOT, args.output)
    os.makedirs(out_dir, exist_ok=True)
    results_path = os.path.join(out_dir, "results.json")
    bench_json = os.path.join(out_dir, "benchmarks.json")
    mode = "quick" if args.quick else "full"
    code = 0

    if args.reuse:
        with open(results_path) as fh:
            saved = json.load(fh)
        info, mode = saved["machine"], saved["mode"]
        target_rows, compile_results, memory_results = saved["targets"], saved["compile"], saved["memory"]
        suite_rows = saved.get("suites") or load_benchmarks(bench_json)
    else:
        info = machine_info()
        info["others_cpu"] = {}
        if args.wait_idle > 0:
            os.environ["FASTLAYERS_BENCH_WAIT_IDLE"] = str(args.wait_idle)
            os.environ["FASTLAYERS_BENCH_WAIT_TOTAL"] = str(args.wait_total)
            targets.WAIT_IDLE_S = args.wait_idle
        if not args.skip_suites:
            with CpuMonitor() as monitor:
                bench_json, code = run_suites(mode, out_dir)
            info["others_cpu"]["suites"] = monitor.share
        target_rows = []
        if not args.skip_targets:
            with CpuMonitor() as monitor:
                target_rows = measure_targets(args.quick)
            info["others_cpu"]["targets"] = monitor.share
        compile_results = []
        if not args.skip_compile:
            wait_idle(args.wait_idle)
            with CpuMonitor() as monitor:
                compile_results = measure_compile(args.quick)
            info["others_cpu"]["compile time"] = monitor.share
        memory_results = [] if args.skip_memory else measure_memory(args.quick)
        if hasattr(os, "getloadavg"):
            info["load_average_end"] = list(os.getloadavg())
        target_rows = (target_rows + targets.compile_rows(compile_results)
                       + targets.memory_rows(memory_results))
        suite_rows = [] if args.skip_suites else load_benchmarks(bench_json)
        with open(results_path, "w") as fh:
            json.dump(dict(machine=info, mode=mode, targets=target_rows, compile=compile_results,
                           memory=memory_results, suites=suite_rows), fh, indent=1, default=str)

    res = Results(suite_rows)
    plots = {}
    lenet_png = os.path.join(out_dir, "lenet_speedup.png")
    kernel_png = os.path.join(out_dir, "kernel_speedup.png")
    if res.keys("lenet"):
        plot_lenet(res, lenet_png)
        plots["lenet"] = lenet_png
    if plot_kernels(res, kernel_png):
        plots["kernels"] = kernel_png
    report = build_report(info, mode, res, target_rows, compile_results, memory_results, out_dir, plots)
    report_path = os.path.join(out_dir, "report.md")
    with open(report_path, "w", encoding="utf-8") as fh:
        fh.write(report)
    if not args.no_readme:
        section = readme_section(info, mode, res, target_rows, compile_results, memory_results, out_dir,
                                 plots, args.readme)
        update_readme(args.readme, section)
    files = [report_path, results_path, *plots.values()]
    if os.path.exists(bench_json):
        files.append(bench_json)
    print_summary(target_rows, compile_results, memory_results, files)
    if code != 0:
        log(f"the pytest-benchmark suites failed (exit code {code}); see {os.path.join(out_dir, 'pytest.log')}")
    return 1 if code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
