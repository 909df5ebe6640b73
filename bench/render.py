"""Tables and plots of a benchmark run: Markdown for ``report.md`` and the README, PNG plots.

Everything here formats figures that :mod:`bench.run` measured (or read
back from ``results.json``); nothing is timed.
"""

import math
import os

from . import targets
from .machine import BUSY_THRESHOLD, describe_cpu

BUSY_MARK = " ⚠"

# Column order of the network tables: (backend, threads); threads None = not set.
NETWORK_COLUMNS = [
    ("reference", None),
    ("im2col", None),
    ("torch", 1),
    ("torch", 2),
    ("jax", None),
    ("fastlayers", 1),
    ("fastlayers", 2),
    ("fastlayers-loop", 1),
    ("fastlayers-loop", 2),
]
NETWORK_NAMES = {
    "reference": "reference",
    "im2col": "NumPy im2col",
    "torch": "PyTorch",
    "jax": "JAX",
    "fastlayers": "fastlayers",
    "fastlayers-loop": "fastlayers loop",
}
KERNEL_BACKEND_ORDER = ["reference", "im2col", "torch", "jax", "fastlayers", "fastlayers-kernel"]
THREADED = ("torch", "fastlayers", "fastlayers-loop", "fastlayers-kernel")
BACKEND_NAMES = {
    "reference": "reference (scipy loops)",
    "im2col": "NumPy im2col",
    "torch": "PyTorch",
    "jax": "JAX",
    "fastlayers": "fastlayers layer",
    "fastlayers-kernel": "fastlayers kernel",
}


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
    """Index of the suite rows by (suite, layer, batch, dtype, op, backend, threads).

    :meth:`time` gives each case's median time (``stat="min"``: the
    fastest round).
    """

    def __init__(self, rows, stat="median"):
        self.rows = rows
        self.stat = stat
        self.index = {
            (r["suite"], r["layer"], r["batch"], r["dtype"], r["op"], r["backend"], r["threads"]): r
            for r in rows
        }

    def time(self, suite, layer, batch, dtype, op, backend, threads):
        row = self.index.get((suite, layer, batch, dtype, op, backend, threads))
        return None if row is None else row[self.stat]

    def busy(self, suite, layer, batch, dtype, op, backend, threads):
        """True when other processes used much of the CPUs while this case was timed."""
        row = self.index.get((suite, layer, batch, dtype, op, backend, threads))
        share = None if row is None else row.get("others_cpu")
        return share is not None and share > BUSY_THRESHOLD

    def any_busy(self):
        return any((r.get("others_cpu") or 0) > BUSY_THRESHOLD for r in self.rows)

    def keys(self, suite, layer=None, op=None):
        seen = []
        for r in self.rows:
            key = (r["layer"], r["batch"], r["dtype"], r["op"])
            if layer is not None and r["layer"] != layer or op is not None and r["op"] != op:
                continue
            if r["suite"] == suite and key not in seen:
                seen.append(key)
        return seen


def _col_name(backend, threads):
    name = BACKEND_NAMES.get(backend, backend)
    return name if threads is None else f"{name} {threads}t"


def network_table(res, net="lenet", op="step", threads_fast=2):
    """Throughput (samples/s, median) per backend and batch, and fastlayers' speedups.

    Columns without any figure are left out.
    """

    def t(batch, dtype, col):
        return res.time("lenet", net, batch, dtype, op, *col)

    keys = sorted({(k[2], k[1]) for k in res.keys("lenet", net, op)})
    columns = [col for col in NETWORK_COLUMNS if any(t(b, d, col) for d, b in keys)]
    fast = ("fastlayers", threads_fast)
    comparisons = [
        # (label, other column, fastlayers column)
        (f"fastlayers {threads_fast}t vs reference", ("reference", None), fast),
        ("vs im2col", ("im2col", None), fast),
        ("vs PyTorch (1t each)", ("torch", 1), ("fastlayers", 1)),
        (f"vs PyTorch ({threads_fast}t each)", ("torch", threads_fast), fast),
        (
            f"loop vs PyTorch ({threads_fast}t each)",
            ("torch", threads_fast),
            ("fastlayers-loop", threads_fast),
        ),
        ("vs JAX", ("jax", None), fast),
    ]
    comparisons = [c for c in comparisons if c[1] in columns and c[2] in columns]
    header = (
        ["dtype", "batch"]
        + [NETWORK_NAMES[b] + ("" if n is None else f" {n}t") for b, n in columns]
        + [c[0] for c in comparisons]
    )
    rows = []
    for dtype, batch in keys:
        times = {col: t(batch, dtype, col) for col in columns}
        mark = {
            col: BUSY_MARK if res.busy("lenet", net, batch, dtype, op, *col) else ""
            for col in columns
        }
        rows.append(
            [
                dtype,
                batch,
                *[
                    fmt_rate(batch / times[col] if times[col] else None) + mark[col]
                    for col in columns
                ],
                *[fmt_ratio(_ratio(times[other], times[mine])) for _, other, mine in comparisons],
            ]
        )
    return markdown_table(header, rows, ["l", "r"] + ["r"] * (len(header) - 2))


def lenet_table(res, threads_fast=2):
    """The LeNet training step's :func:`network_table`."""
    return network_table(res, "lenet", "step", threads_fast)


def kernel_table(res, suite, threads):
    """Median times per backend at ``threads`` threads and the fastlayers kernel's speedups."""
    present = {(r["backend"]) for r in res.rows if r["suite"] == suite}
    backends = [b for b in KERNEL_BACKEND_ORDER if b in present]
    header = ["shape", "batch", "dtype", "op"] + [
        _col_name(b, threads if b in THREADED else None) for b in backends
    ]
    fast_backend = "fastlayers-kernel" if "fastlayers-kernel" in backends else "fastlayers"
    speedups = [b for b in ("torch", "jax", "im2col", "reference") if b in backends]
    fast_name = "kernel" if fast_backend == "fastlayers-kernel" else "fastlayers"
    header += [f"{fast_name} vs {BACKEND_NAMES[b].split(' (')[0]}" for b in speedups]
    layer_vs_torch = (
        fast_backend != "fastlayers" and "fastlayers" in backends and "torch" in backends
    )
    if layer_vs_torch:
        header.append("layer vs PyTorch")
    rows = []
    labels = {r["layer"]: r.get("label", r["layer"]) for r in res.rows if r["suite"] == suite}
    for layer, batch, dtype, op in res.keys(suite):
        times = {
            b: res.time(suite, layer, batch, dtype, op, b, threads if b in THREADED else None)
            for b in backends
        }
        if all(v is None for v in times.values()):
            continue
        marks = {}
        for b in backends:
            n = threads if b in THREADED else None
            marks[b] = BUSY_MARK if res.busy(suite, layer, batch, dtype, op, b, n) else ""
        row = [labels[layer], batch, dtype, op] + [fmt_time(times[b]) + marks[b] for b in backends]
        row += [fmt_ratio(_ratio(times[b], times.get(fast_backend))) for b in speedups]
        if layer_vs_torch:
            row.append(fmt_ratio(_ratio(times["torch"], times["fastlayers"])))
        rows.append(row)
    return markdown_table(header, rows, ["l", "r", "l", "l"] + ["r"] * (len(header) - 4))


# Targets measured in other units than a throughput ratio, by kind:
# the format of the measured value and that of its limit (an upper bound).
_UNITS = {
    "compile": ("{:.2f} s", "≤ {:.0f} s"),
    "memory": ("{:+.2f} B/step", "≤ {:.0f} B/step"),
    "faults": ("{:.3f}", "≤ {:g}"),
}


def fmt_target_value(row, value):
    if value is None or not math.isfinite(value):
        return "–"
    if row["kind"] in _UNITS:
        return _UNITS[row["kind"]][0].format(value)
    return fmt_ratio(value)


def fmt_threshold(row):
    if row["kind"] in _UNITS:
        return _UNITS[row["kind"]][1].format(row["threshold"])
    return f"≥ {row['threshold']:g}x"


def targets_table(rows):
    """One line per target: threshold, median-throughput ratio, fastest-call ratio, result."""
    header = [
        "target",
        "threshold",
        "measured (median)",
        "fastest call",
        "result",
        "others' CPU",
        "notes",
    ]
    out = []
    for row in rows:
        notes = [f"{key}: {fmt_ratio(value)}" for key, value in row["info"].items()]
        notes += row.get("notes", [])
        if row.get("skip_reason"):
            notes.append(row["skip_reason"])
        skipped = row["result"] == "SKIP"
        measured = "–" if skipped else fmt_target_value(row, row["ratio"])
        fastest = "–" if skipped else fmt_target_value(row, row.get("fastest_ratio"))
        if "fastest_ratio" not in row and row["kind"] not in ("compile", "memory"):
            # A run from before the median-throughput targets: its ratio was the fastest call's.
            measured, fastest = "–", measured
        out.append(
            [
                row["target"],
                fmt_threshold(row),
                measured,
                fastest,
                f"**{row['result']}**",
                fmt_share(row.get("others_cpu")),
                "; ".join(notes),
            ]
        )
    return markdown_table(header, out, ["l", "r", "r", "r", "c", "r", "l"])


def condensed_targets(rows):
    """The targets with the kernel rows folded into one row per shape (its worst case).

    The worst case is the one furthest below (or least above) its own
    threshold, the thresholds differing by dtype.
    """
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
        thresholds = sorted({f"{r['dtype']} ≥ {r['threshold']:g}x" for r in members})
        name = (
            f"{label}, batch 64, forward / grad_input / grad_weights, float32 and float64: "
            f"fastlayers kernel / PyTorch throughput, worst of {len(members)} ({', '.join(thresholds)})"
        )
        if not measured:
            folded.append(dict(members[0], target=name))
            continue
        worst = min(measured, key=lambda r: r["ratio"] / r["threshold"])
        passed = sum(r["result"] == "PASS" for r in measured)
        folded.append(
            dict(
                target=name,
                kind="kernel-vs-torch",
                threshold=worst["threshold"],
                ratio=worst["ratio"],
                result="PASS" if passed == len(measured) else "MISS",
                info={
                    f"worst: {worst['op']} {worst['dtype']}; passed {passed} of {len(measured)}; best": max(
                        r["ratio"] for r in measured
                    )
                },
                skip_reason=None,
                others_cpu=max((r.get("others_cpu") or 0) for r in measured),
            )
        )
        if "fastest_ratio" in worst:
            folded[-1]["fastest_ratio"] = worst["fastest_ratio"]
    return folded


def compile_table(results):
    header = [
        "dtype",
        "compiled ahead",
        "cold cache",
        "warm cache",
        "import (warm)",
        "first step (cold)",
        "first step (warm)",
        "second step",
    ]
    rows = []
    for r in results:
        warm = r["warm"][len(r["warm"]) // 2] if r["warm"] else {}
        rows.append(
            [
                r["dtype"],
                "fastlayers.precompile" if r.get("precompile") else "no",
                f"{r['cold_s']:.2f} s",
                f"{r['warm_s']:.2f} s (median of {len(r['warm'])})",
                f"{warm.get('import_s', math.nan):.2f} s",
                f"{r['cold']['first_step_s']:.2f} s",
                f"{warm.get('first_step_s', math.nan):.2f} s",
                fmt_time(r["cold"].get("second_step_s")),
            ]
        )
    return markdown_table(header, rows)


def memory_table(results):
    header = [
        "dtype",
        "steps",
        "batch",
        "RSS start",
        "RSS end",
        "RSS peak growth",
        "RSS slope",
        "numba runtime: unfreed allocations",
        "tracemalloc growth",
        "time per step",
    ]
    rows = []
    for r in results:
        nrt = r.get("nrt_unfreed_per_step")
        rows.append(
            [
                r["dtype"],
                r["steps"],
                r["batch"],
                f"{r['rss_start'] / 2**20:.1f} MiB",
                f"{r['rss_end'] / 2**20:.1f} MiB",
                f"{r['rss_robust_growth_per_step']:+.0f} B/step",
                f"{r['rss_slope_per_step']:+.0f} B/step",
                "n/a" if nrt is None else f"{nrt:g} per step",
                f"{r['traced_growth_per_step']:+.2f} B/step",
                fmt_time(r["seconds_per_step"]),
            ]
        )
    return markdown_table(header, rows)


def machine_table(info, mode):
    items = [
        ("date", info["date"]),
        (
            "CPU",
            f"{info['cpu']}"
            + (f" ({info['vendor']})" if info.get("vendor") else "")
            + f", {info['logical_cores']} logical cores ({info['usable_cores']} usable"
            + (f", {info['physical_cores']} physical" if info.get("physical_cores") else "")
            + ")",
        ),
        (
            "SIMD",
            (info.get("simd") or "unknown").upper().replace("AVX512", "AVX-512")
            + (f" ({', '.join(info['avx512_flags'])})" if info.get("avx512_flags") else ""),
        ),
        ("OS", info["os"]),
        ("Python", info["python"]),
        (
            "fastlayers",
            f"{info['fastlayers']}"
            + (f" (commit {info['git_commit']})" if info.get("git_commit") else ""),
        ),
        (
            "NumPy",
            f"{info['numpy']}"
            + (f", BLAS: {info['numpy_blas']}" if info.get("numpy_blas") else ""),
        ),
        (
            "numba",
            f"{info['numba']}, threading layer {info['numba_threading_layer']}, "
            f"NUMBA_NUM_THREADS={info['numba_num_threads']}",
        ),
        ("SciPy", info["scipy"]),
        ("PyTorch", info.get("torch") or "not installed"),
        ("JAX", info.get("jax") or "not installed"),
        ("pytest-benchmark", info["pytest_benchmark"]),
        ("mode", mode),
    ]
    if info.get("target_windows"):
        w = info["target_windows"]
        items.append(
            ("target windows", f"{w['windows']} per side, at least {w['window_s']:g} s each")
        )
    for phase, share in (info.get("others_cpu") or {}).items():
        items.append((f"other processes' CPU share: {phase}", fmt_share(share)))
    if info.get("load_average"):
        items.append(("load average at start", ", ".join(f"{v:.2f}" for v in info["load_average"])))
    if info.get("load_average_end"):
        items.append(
            ("load average at end", ", ".join(f"{v:.2f}" for v in info["load_average_end"]))
        )
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
    """Speedups of the LeNet step over NumPy im2col and PyTorch by batch; False when there is nothing to plot."""
    if not res.keys("lenet", "lenet", "step"):
        return False
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
        ("fastlayers-loop", 2): ("tab:purple", "v", "fastlayers, tutorial-style loop, 2 threads"),
    }
    batches = sorted({k[1] for k in res.keys("lenet", "lenet", "step")})
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
        _batch_axes(
            ax,
            batches,
            f"LeNet training step, {dtype}: speedup over NumPy im2col",
            "throughput / im2col throughput",
        )

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
                ax.plot(
                    xs, ys, marker="^", color=color, label=f"{n} thread{'s' if n > 1 else ''} each"
                )
        target = targets.LENET_VS_TORCH[dtype]
        ax.axhline(
            target,
            color="tab:green",
            ls="--",
            lw=1,
            label=f"target at batch 64, 2 threads ({target}x)",
        )
        _batch_axes(
            ax,
            batches,
            f"LeNet training step, {dtype}: fastlayers / PyTorch throughput",
            "speedup over PyTorch",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


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
        for layer, b, _, op in res.keys(suite):
            if b != batch or (suite, layer, op) in categories:
                continue
            if any(
                np.isfinite(speedup(suite, layer, d, op, *c[:3]))
                for c in comparisons
                for d in ("float32", "float64")
            ):
                categories.append((suite, layer, op))
    if not categories:
        return False
    fig, axes = plt.subplots(2, 1, figsize=(max(10, 0.6 * len(categories) + 3), 9), squeeze=False)
    width = 0.8 / len(comparisons)
    x = np.arange(len(categories))
    for row, dtype in enumerate(("float32", "float64")):
        ax = axes[row][0]
        for i, (fast, other, n, label, color) in enumerate(comparisons):
            values = [
                speedup(suite, layer, dtype, op, fast, other, n) for suite, layer, op in categories
            ]
            ax.bar(
                x + (i - (len(comparisons) - 1) / 2) * width,
                values,
                width,
                label=label,
                color=color,
            )
        ax.axhline(1.0, color="k", lw=0.8)
        cifar = targets.KERNEL_VS_TORCH["cifar-conv1"][dtype]
        ax.axhline(
            cifar, color="tab:green", lw=0.8, ls="--", label=f"{cifar}x (CIFAR target vs PyTorch)"
        )
        ax.set_yscale("log")
        ax.set_xticks(
            x,
            [f"{layer}\n{op}" for _, layer, op in categories],
            rotation=60,
            ha="right",
            fontsize=8,
        )
        ax.set_ylabel("speedup (time of other / time of fastlayers)")
        ax.set_title(
            f"Kernels at batch {batch}, {dtype}, {threads} threads for PyTorch and fastlayers"
        )
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
**Targets.** Each side of a target's ratio runs in a Python process of its
own (`bench/throughput.py`), started with its thread count fixed
(`NUMBA_NUM_THREADS`, `OMP_NUM_THREADS`, `torch.set_num_threads`, XLA's
flags), so that no side inherits the allocator state, page mappings or
OpenMP runtime of another.  The parent asks the processes in turn for
windows of back-to-back calls lasting at least the window length (see the
machine table), rotating the order every round, so that a busy moment of a
shared machine hits every side alike.  A side's figure is the median of its
windows' throughputs (samples per second, calls per second for kernels);
"measured" is the ratio of two medians, "fastest call" the ratio of the
fastest single calls (the figure least disturbed by other processes, which
also hides the page faults and cache misses of a steady loop); "others'
CPU" is the share of all CPUs' time that other processes (and hypervisor
steal) took meanwhile.  Page faults are the process's minor faults
(`getrusage`) over steady-state steps after the windows.

**Tables.** They come from the pytest-benchmark suites
(`bench/test_bench_*.py`, one case after the other, in one process) and
give the median time of each case after a warm-up (compilation is never
timed).  Throughput is samples per second of a training step: forward,
backward and SGD update of every layer, loss summed over the batch, or of
batch-1 inference: the forward pass and the softmax.

Backends: *reference* is `fastlayers.reference` (the tutorial's Python
loops over `scipy.signal`; its convolution computes input and weight
gradients in one `backward`, which the kernel tables time for each);
*NumPy im2col* is `bench/im2col.py` (`sliding_window_view` + `tensordot`);
*fastlayers* / *fastlayers layer* times what users call (the tutorial's
`NeuralNetwork`, whose backward skips the first layer's input gradient;
`layer.forward`, `layer.backward`, and `backward_parameters` for the
weight gradients alone); *fastlayers loop* the same network trained by the
user's own loop over every layer's `forward` and `backward`, the first
layer's input gradient included; *fastlayers kernel* the raw
`fastlayers.kernels` functions on arrays already in their (c, h, w, b)
layout (`grad_input` is the kernel call the layer makes at stride 1, a
correlation of the padded error with the flipped kernels;
`grad_input_gather` is the general strided kernel `conv2d_grad_input`);
*PyTorch* the ATen operators (`conv2d`, `convolution_backward`,
`max_pool2d_with_indices` and its backward) and, for the networks, the
same layers as `nn.Sequential` with `cross_entropy(reduction="sum")` and
`optim.SGD`; *JAX* `lax.conv_general_dilated` with its `jax.vjp`
gradients and, for the networks, a jitted `value_and_grad` step with the
SGD update.  In the suites, thread counts are set with
`numba.set_num_threads` and `torch.set_num_threads`; JAX, NumPy and SciPy
get none (JAX's pool is fixed when it starts).

The reference layers are slow by design, so they run on a smaller set:
the LeNet convolution and pooling kernels at batch 1 and 16, the CIFAR
convolutions at batch 1, and the LeNet step at batch 16 and 64.
"""


def _section(title, intro, body):
    """The lines of a report section: its heading, a paragraph, and a table."""
    return [f"## {title}", "", intro, "", body, ""]


def build_report(info, mode, res, target_rows, compile_results, memory_results, plots):
    flag = {"quick": " --quick", "smoke": " --smoke"}.get(mode, "")
    parts = [
        "# fastlayers benchmarks",
        "",
        f"Generated by `python -m bench.report{flag}` on {describe_cpu(info)}; do not edit by hand.",
        "",
        "## Machine",
        "",
        machine_table(info, mode),
        "",
    ]
    if mode == "smoke":
        parts += [
            "**A smoke run**: every measurement ran for a very short time to check the pipeline; "
            "its figures mean nothing.",
            "",
        ]
    busy_phases = [
        k for k, v in (info.get("others_cpu") or {}).items() if v is not None and v > BUSY_THRESHOLD
    ]
    if (
        busy_phases
        or res.any_busy()
        or any((r.get("others_cpu") or 0) > BUSY_THRESHOLD for r in target_rows)
    ):
        parts += [BUSY_NOTE, ""]
    if target_rows:
        parts += ["## Targets", "", targets_table(target_rows), ""]
    if res.keys("lenet", "lenet", "step"):
        parts += _section(
            "LeNet training step",
            "Median throughput in samples/s (higher is better) and the speedups of fastlayers.",
            lenet_table(res),
        )
        if plots.get("lenet"):
            parts += [f"![LeNet speedups]({os.path.basename(plots['lenet'])})", ""]
    if res.keys("lenet", "cifar", "step"):
        parts += _section(
            "CIFAR-10 network training step",
            'conv 3->32, 32->64, 64->64 (3x3, "same"), each followed by ReLU and 2x2 max pooling, '
            "then fully connected 1024->128->10; input 3x32x32. Median samples/s.",
            network_table(res, "cifar", "step"),
        )
    if res.keys("lenet", "lenet", "infer"):
        parts += _section(
            "LeNet inference",
            "Forward pass and softmax. Median samples/s.",
            network_table(res, "lenet", "infer"),
        )
    if compile_results:
        parts += _section(
            "Compile time",
            "A new process imports fastlayers, builds LeNet (batch 64) and trains one step; "
            "wall time from starting the process, with `NUMBA_CACHE_DIR` set to an empty "
            "directory (cold) and to the same directory again (warm).",
            compile_table(compile_results),
        )
    if memory_results:
        steps = memory_results[0]["steps"]
        parts += _section(
            "Memory",
            f"{steps} training steps after a warm-up, in a process of their own, twice: once "
            "sampling the resident set size (RSS) and counting the allocations of numba's runtime, "
            "once under tracemalloc.  RSS swings by megabytes as the allocator maps and unmaps "
            "large blocks, so its figure is the rise of its peak from the first half of the steps "
            "to the second; tracemalloc and numba's counters see every allocation.",
            memory_table(memory_results),
        )
    titles = {
        "conv": "Convolution kernels",
        "pool": "Max pooling",
        "upsample": "Strided upsampling (x2)",
        "layers": "Every layer of the test registry (its default configuration, batch 64)",
    }
    for suite, title in titles.items():
        if not res.keys(suite):
            continue
        parts += [f"## {title}", ""]
        for n in (2, 1):
            parts += [
                f"### {n} thread{'s' if n > 1 else ''} (PyTorch and fastlayers)",
                "",
                kernel_table(res, suite, n),
                "",
            ]
        if suite == "conv" and plots.get("kernels"):
            parts += [f"![kernel speedups]({os.path.basename(plots['kernels'])})", ""]
    parts += ["## Method", "", METHOD]
    return "\n".join(parts)
