"""The performance targets, each measured as a ratio of median throughputs.

Every side of a ratio runs in a process of its own, and the sides are
timed in alternating windows of at least ``window`` seconds
(:mod:`bench.throughput`); a side's figure is the median of its windows'
throughputs (samples per second, or calls per second for kernels), and
the ratio of two medians is what a target compares with its threshold.
The ratio of the fastest single calls is kept as a second column
(``fastest_ratio``): it is the figure least disturbed by other processes,
but it hides the page faults and cache misses a steady loop pays.

The one exception is the FAU target (:func:`fau_targets`): a student's
loop layer and the compat layer are timed in the same process, in
alternating windows, as the loops take a tenth of a second a call.

Each ``*_targets`` function returns one row per target with its
threshold, measured value and PASS/MISS (or SKIP when an optional peer is
missing or the machine has fewer cores than the target asks for).
"""

import importlib.util
import math
import os
import time

import numpy as np

from .throughput import Entry, measure

THREADS = 2
LENET_BATCH = 64
KERNEL_BATCH = 64
CIFAR_BATCH = 64
DTYPES = ("float32", "float64")

# Training step of LeNet (batch 64, 2 threads), fastlayers / PyTorch
# throughput, in both loops: the tutorial's ``NeuralNetwork`` and the
# user's own loop over the layers.
LENET_VS_TORCH = {"float32": 2.0, "float64": 2.5}
LENET_LOOPS = {"fastlayers": "NeuralNetwork", "fastlayers-loop": "tutorial-style loop"}
LENET_VS_JAX = 3.0
LENET_VS_REFERENCE = 100.0
THREAD_SCALING = 1.7
INFERENCE_VS_TORCH = 2.0  # batch 1, forward only
CIFAR_VS_TORCH = {"float32": 1.2}  # the CIFAR network's training step
# Kernels (PyTorch time / fastlayers kernel time, batch 64, 2 threads), by shape and dtype.
KERNEL_VS_TORCH = {
    "lenet-conv1": {"float32": 1.2, "float64": 1.2},
    "lenet-conv2": {"float32": 1.2, "float64": 1.2},
    "cifar-conv1": {"float32": 1.0, "float64": 1.5},
    "cifar-conv2": {"float32": 1.0, "float64": 1.5},
    "cifar-conv3": {"float32": 1.0, "float64": 1.5},
}
KERNEL_OPS = ("forward", "grad_input", "grad_weights")
FAU_CONV_VS_LOOPS = 50.0  # the exercise-2 Conv layer, forward + backward
FAU_CONV_SHAPE = dict(batch=16, channels=3, size=(28, 28), num_kernels=8, kernel=(3, 3))
PAGE_FAULTS_PER_STEP = 0.0  # minor page faults of a steady-state LeNet step
FAULT_STEPS = 200
COLD_LIMIT_S = 45.0
# The first step of fastlayers train, whose warm-up compiles the kernels
# with fastlayers.precompile (in two processes where a core is free).
COLD_TRAIN_LIMIT_S = 10.0
WARM_LIMIT_S = 3.0

TORCH_MISSING = (
    "PyTorch not installed: pip install torch==2.13.0 (CPU build) to benchmark against it"
)
JAX_MISSING = 'JAX not installed: pip install "jax[cpu]" to benchmark against it'


class Settings:
    """Window length and count of a run; ``wait_idle_s`` before each measurement."""

    def __init__(self, window=1.0, windows=5, wait_idle_s=0.0, fault_steps=FAULT_STEPS):
        self.window = window
        self.windows = windows
        self.wait_idle_s = wait_idle_s
        self.fault_steps = fault_steps


SETTINGS = {
    "full": Settings(window=1.0, windows=7),
    "quick": Settings(window=1.0, windows=3),
    "smoke": Settings(window=0.02, windows=2, fault_steps=10),
}


def available(package):
    """True when ``package`` is installed (without importing it here)."""
    return importlib.util.find_spec(package) is not None


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _row(
    name,
    threshold,
    value,
    *,
    kind,
    times=None,
    fastest=None,
    info=None,
    skip=None,
    lower_is_better=False,
    **extra,
):
    if skip:
        result = "SKIP"
    elif lower_is_better:
        result = "PASS" if value <= threshold else "MISS"
    else:
        result = "PASS" if value >= threshold else "MISS"
    times = times or {}
    return dict(
        target=name,
        kind=kind,
        threshold=threshold,
        ratio=value,
        fastest_ratio=fastest,
        result=result,
        detail=times,
        info=info or {},
        skip_reason=skip,
        others_cpu=times.get("others_cpu"),
        lower_is_better=lower_is_better,
        **extra,
    )


def _subset(times, *names):
    """The figures of ``names`` (and the others' CPU share) out of a measurement's ``times``."""
    return {name: times[name] for name in (*names, "others_cpu") if name in times}


def _ratio(times, a, b, key="median"):
    """Throughput of ``a`` over that of ``b`` (``key`` "median" or "best")."""
    return times[a][key] / times[b][key]


def _vs_row(name, threshold, times, a, b, *, kind, skip=None, info=None, **extra):
    """The row of a target that compares the throughput of ``a`` with that of ``b``.

    With ``skip`` (why the target cannot be measured here) the row is a
    SKIP without a ratio, and ``info`` is left out: it would compare
    figures that were not all measured.
    """
    if skip:
        return _row(name, threshold, math.nan, kind=kind, times=times, skip=skip, **extra)
    return _row(
        name,
        threshold,
        _ratio(times, a, b),
        kind=kind,
        times=times,
        fastest=_ratio(times, a, b, "best"),
        info=info,
        **extra,
    )


def _vs_torch_row(name, threshold, times, n, torch, *, kind, info=None, **extra):
    """:func:`_vs_row` of fastlayers against PyTorch at ``n`` threads.

    ``torch`` says whether PyTorch is installed; the fastlayers / JAX ratio
    is added to ``info`` when JAX was measured too.
    """
    info = dict(info or {})
    if torch and f"jax-t{n}" in times:
        info["vs JAX"] = _ratio(times, f"fastlayers-t{n}", f"jax-t{n}")
    return _vs_row(
        name,
        threshold,
        times,
        f"fastlayers-t{n}",
        f"torch-t{n}",
        kind=kind,
        skip=None if torch else TORCH_MISSING,
        info=info,
        **extra,
    )


def _run(entries, settings, log, faults=False):
    return measure(
        entries,
        settings.window,
        settings.windows,
        settings.wait_idle_s,
        faults_calls=settings.fault_steps if faults else 0,
        log=log,
    )


def lenet_targets(settings, log=print):
    """LeNet training step: vs PyTorch in both loops, vs JAX, thread scaling, page faults."""
    rows = []
    torch, jax = available("torch"), available("jax")
    enough = cores() >= THREADS
    n = THREADS if enough else 1
    for dtype in DTYPES:
        log(f"  LeNet step, batch {LENET_BATCH}, {dtype}")
        spec = dict(kind="step", net="lenet", dtype=dtype, batch=LENET_BATCH)
        entries = [
            Entry(f"fastlayers-t{n}", "fastlayers", n, faults=True, **spec),
            Entry(f"fastlayers-loop-t{n}", "fastlayers-loop", n, faults=True, **spec),
        ]
        if enough:
            entries.append(Entry("fastlayers-t1", "fastlayers", 1, **spec))
        if torch:
            entries.append(Entry(f"torch-t{n}", "torch", n, **spec))
            if enough:
                entries.append(Entry("torch-t1", "torch", 1, **spec))
        if jax:
            entries.append(Entry(f"jax-t{n}", "jax", n, **spec))
        times = _run(entries, settings, log, faults=True)
        skip_threads = None if enough else f"needs {THREADS} cores, the machine has {cores()}"
        for backend, loop in LENET_LOOPS.items():
            name = (
                f"LeNet step, batch {LENET_BATCH}, {THREADS} threads, {dtype}, {loop}: "
                f"fastlayers / PyTorch throughput"
            )
            rows.append(
                _vs_row(
                    name,
                    LENET_VS_TORCH[dtype],
                    times,
                    f"{backend}-t{n}",
                    f"torch-t{n}",
                    kind="lenet-vs-torch",
                    skip=TORCH_MISSING if not torch else skip_threads,
                    dtype=dtype,
                    loop=backend,
                )
            )
        name = (
            f"LeNet step, batch {LENET_BATCH}, {THREADS} threads, {dtype}, NeuralNetwork: "
            f"fastlayers / JAX throughput"
        )
        rows.append(
            _vs_row(
                name,
                LENET_VS_JAX,
                times,
                f"fastlayers-t{n}",
                f"jax-t{n}",
                kind="lenet-vs-jax",
                skip=JAX_MISSING if not jax else skip_threads,
                dtype=dtype,
            )
        )
        name = (
            f"LeNet step, batch {LENET_BATCH}, {dtype}, NeuralNetwork, fastlayers: "
            f"{THREADS} threads / 1 thread throughput"
        )
        info = {}
        if torch and enough:
            info["PyTorch, same ratio"] = _ratio(times, f"torch-t{n}", "torch-t1")
        rows.append(
            _vs_row(
                name,
                THREAD_SCALING,
                times,
                f"fastlayers-t{n}",
                "fastlayers-t1",
                kind="threads",
                skip=skip_threads,
                info=info,
                dtype=dtype,
            )
        )
        faults = times[f"fastlayers-t{n}"]["faults_per_call"]
        loop_faults = times[f"fastlayers-loop-t{n}"]["faults_per_call"]
        rows.append(
            _row(
                f"LeNet step, batch {LENET_BATCH}, {n} threads, {dtype}, NeuralNetwork: minor page faults per "
                f"steady-state step (over {settings.fault_steps} steps)",
                PAGE_FAULTS_PER_STEP,
                faults,
                kind="faults",
                times=times,
                lower_is_better=True,
                dtype=dtype,
                notes=[f"tutorial-style loop: {loop_faults:.3f} per step"]
                + (
                    [
                        f"PyTorch: {times[f'torch-t{n}']['minflt_per_call']:.3f} per step over the windows"
                    ]
                    if torch
                    else []
                ),
            )
        )
    # Against the reference layers: one reference step takes seconds, so
    # a window holds a single call.
    log(f"  LeNet step, batch {LENET_BATCH}, float64, reference layers")
    spec = dict(kind="step", net="lenet", dtype="float64", batch=LENET_BATCH)
    entries = [
        Entry("fastlayers", "fastlayers", n, **spec),
        Entry("reference", "reference", None, **spec),
    ]
    ref_settings = Settings(settings.window, min(settings.windows, 3), settings.wait_idle_s)
    times = _run(entries, ref_settings, log)
    rows.append(
        _vs_row(
            f"LeNet step, batch {LENET_BATCH}, float64: fastlayers ({n} threads) / reference layers throughput",
            LENET_VS_REFERENCE,
            times,
            "fastlayers",
            "reference",
            kind="lenet-vs-reference",
            dtype="float64",
        )
    )
    return rows


def inference_targets(settings, log=print):
    """Batch-1 inference (forward pass and softmax) vs PyTorch."""
    rows = []
    torch = available("torch")
    n = min(THREADS, cores())
    for dtype in DTYPES:
        log(f"  LeNet inference, batch 1, {dtype}")
        spec = dict(kind="infer", net="lenet", dtype=dtype, batch=1)
        entries = [Entry(f"fastlayers-t{n}", "fastlayers", n, **spec)]
        if torch:
            entries.append(Entry(f"torch-t{n}", "torch", n, **spec))
        if available("jax"):
            entries.append(Entry(f"jax-t{n}", "jax", n, **spec))
        times = _run(entries, settings, log)
        name = f"LeNet inference (forward only), batch 1, {n} threads, {dtype}: fastlayers / PyTorch throughput"
        rows.append(
            _vs_torch_row(name, INFERENCE_VS_TORCH, times, n, torch, kind="inference", dtype=dtype)
        )
    return rows


def cifar_targets(settings, log=print):
    """Training step of the small CIFAR-10 network vs PyTorch."""
    rows = []
    torch, jax = available("torch"), available("jax")
    n = min(THREADS, cores())
    for dtype, threshold in CIFAR_VS_TORCH.items():
        log(f"  CIFAR network step, batch {CIFAR_BATCH}, {dtype}")
        spec = dict(kind="step", net="cifar", dtype=dtype, batch=CIFAR_BATCH)
        entries = [
            Entry(f"fastlayers-t{n}", "fastlayers", n, **spec),
            Entry(f"fastlayers-loop-t{n}", "fastlayers-loop", n, **spec),
        ]
        if torch:
            entries.append(Entry(f"torch-t{n}", "torch", n, **spec))
        if jax:
            entries.append(Entry(f"jax-t{n}", "jax", n, **spec))
        times = _run(entries, settings, log)
        name = (
            f"CIFAR network step (conv 3->32, 32->64, 64->64, 3x3, pooling, FC 1024->128->10), "
            f"batch {CIFAR_BATCH}, {n} threads, {dtype}, NeuralNetwork: fastlayers / PyTorch throughput"
        )
        info = {}
        if torch:
            info["tutorial-style loop"] = _ratio(times, f"fastlayers-loop-t{n}", f"torch-t{n}")
        rows.append(
            _vs_torch_row(name, threshold, times, n, torch, kind="cifar", info=info, dtype=dtype)
        )
    return rows


def kernel_targets(settings, log=print):
    """Convolution kernels vs PyTorch's operators, per shape, dtype and operation.

    One measurement per dtype: every shape and operation of each backend
    shares one worker process, so that a run starts six processes, not
    thirty.
    """
    from . import backends as B

    rows = []
    torch = available("torch")
    n = min(THREADS, cores())
    for dtype in DTYPES:
        log(f"  convolution kernels, batch {KERNEL_BATCH}, {dtype}")
        entries = []
        for layer in KERNEL_VS_TORCH:
            for op in KERNEL_OPS:
                common = dict(kind="kernel", layer=layer, op=op, dtype=dtype, batch=KERNEL_BATCH)
                entries.append(Entry(f"{layer} kernel {op}", "fastlayers-kernel", n, **common))
                if op in B.CONV_OPS["fastlayers"]:
                    entries.append(Entry(f"{layer} layer {op}", "fastlayers", n, **common))
                if torch:
                    entries.append(Entry(f"{layer} torch {op}", "torch", n, **common))
        times = _run(entries, settings, None)
        for layer, thresholds in KERNEL_VS_TORCH.items():
            spec = B.conv_spec(layer, KERNEL_BATCH)
            for op in KERNEL_OPS:
                name = (
                    f"{spec.label}, batch {KERNEL_BATCH}, {n} threads, {dtype}, {op}: "
                    f"fastlayers kernel / PyTorch throughput"
                )
                kernel, torch_op, layer_op = (
                    f"{layer} kernel {op}",
                    f"{layer} torch {op}",
                    f"{layer} layer {op}",
                )
                info = {}
                if torch and layer_op in times:
                    info["layer-level (ConvolutionalLayer)"] = _ratio(times, layer_op, torch_op)
                row = _vs_row(
                    name,
                    thresholds[dtype],
                    # Without PyTorch, torch_op is not among the times.
                    _subset(times, kernel, torch_op, layer_op),
                    kernel,
                    torch_op,
                    kind="kernel-vs-torch",
                    skip=None if torch else TORCH_MISSING,
                    info=info,
                    layer=layer,
                    dtype=dtype,
                    op=op,
                )
                if torch:
                    log(f"    {layer} {op}: {row['ratio']:.2f}x")
                rows.append(row)
    return rows


def _throughputs(step, window, windows):
    """Calls per second of ``step`` in each of ``windows`` windows of ``window`` seconds."""
    rates = []
    for _ in range(windows):
        calls, start = 0, time.perf_counter()
        while True:
            step()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= window:
                break
        rates.append(calls / elapsed)
    return rates


def fau_targets(settings, log=print):
    """The FAU exercise-2 Conv layer: fastlayers.compat.fau vs the exercise's scipy loops.

    Both run in this process, in alternating windows (a loop call takes
    about 0.1 s, so each window is at least a second, or one call); the
    ratio compares median throughputs.
    """
    from .fau_loops import CompatConv, LoopConv

    shape = FAU_CONV_SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((shape["batch"], shape["channels"], *shape["size"]))
    stride, kernel = (1, 1), (shape["channels"], *shape["kernel"])
    loops = LoopConv(stride, kernel, shape["num_kernels"])
    compat = CompatConv(stride, kernel, shape["num_kernels"])
    compat.weights, compat.bias = loops.weights.copy(), loops.bias.copy()
    error = rng.standard_normal(compat.forward(x).shape)
    # Same results first: a fast wrong answer is no speed-up.
    for a, b in zip(
        (loops.forward(x), loops.backward(error), loops.gradient_weights),
        (compat.forward(x), compat.backward(error), compat.gradient_weights),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.abs(b).max())

    def step(layer):
        def run():
            layer.forward(x)
            layer.backward(error)

        return run

    log("  FAU exercise-2 Conv layer: compat vs student loops")
    window = max(settings.window, 0.05)
    loop_rates, compat_rates = [], []
    for _ in range(settings.windows):
        loop_rates += _throughputs(step(loops), window, 1)
        compat_rates += _throughputs(step(compat), window, 1)
    ratio = float(np.median(compat_rates) / np.median(loop_rates))
    fastest = float(np.max(compat_rates) / np.max(loop_rates))
    b, c, (h, w), k = shape["batch"], shape["channels"], shape["size"], shape["num_kernels"]
    return [
        _row(
            f"FAU exercise-2 Conv layer {c}->{k} {h}x{w} 3x3, batch {b}, float64, forward + "
            "backward: fastlayers.compat.fau / student scipy loops (bench/fau_loops.py) throughput",
            FAU_CONV_VS_LOOPS,
            ratio,
            kind="fau-conv",
            fastest=fastest,
            times={
                "compat": {"median": float(np.median(compat_rates)), "best": max(compat_rates)},
                "loops": {"median": float(np.median(loop_rates)), "best": max(loop_rates)},
            },
        )
    ]


def measure_all(settings, log=print):
    """Every throughput target, in the order of the report."""
    return (
        lenet_targets(settings, log)
        + inference_targets(settings, log)
        + cifar_targets(settings, log)
        + kernel_targets(settings, log)
        + fau_targets(settings, log)
    )


def compile_rows(results):
    rows = []
    for r in results:
        dtype = r["dtype"]
        precompiled = r.get("precompile", False)
        cold_limit = COLD_TRAIN_LIMIT_S if precompiled else COLD_LIMIT_S
        how = " compiled ahead as fastlayers train does" if precompiled else ""
        for which, limit in (("cold", cold_limit), ("warm", WARM_LIMIT_S)):
            seconds = r[f"{which}_s"]
            rows.append(
                _row(
                    f"New process to its first LeNet step{how} ({dtype}), {which} kernel cache: "
                    "seconds",
                    limit,
                    seconds,
                    kind="compile",
                    times=r,
                    lower_is_better=True,
                )
            )
    return rows


def memory_rows(results):
    from .memory import RSS_LIMIT_PER_STEP, passed

    rows = []
    for r in results:
        nrt = r.get("nrt_unfreed_per_step")
        row = _row(
            (
                f"Memory growth over {r['steps']} LeNet steps (batch {r['batch']}, {r['dtype']}): "
                f"traced Python/NumPy bytes per step"
            ),
            r["traced_limit_per_step"],
            r["traced_growth_per_step"],
            kind="memory",
            times=r,
            lower_is_better=True,
            notes=[
                f"numba runtime: {'n/a' if nrt is None else f'{nrt:g}'} unfreed allocations/step (limit 0)",
                f"RSS peak growth {r['rss_robust_growth_per_step']:+.0f} B/step (limit {RSS_LIMIT_PER_STEP})",
            ],
        )
        row["result"] = "PASS" if passed(r) else "MISS"
        rows.append(row)
    return rows
