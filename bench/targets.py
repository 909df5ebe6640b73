"""The issue's performance targets, measured in interleaved rounds.

Each target compares two (or more) timed calls.  On a shared machine the
load changes from one second to the next, so the calls a ratio is made of
are timed in alternation: round after round, a block of calls of each
(about 20 ms, or one call of the slowest when that is longer), for at least
``seconds`` and ``MIN_ROUNDS`` rounds.  Every call is timed on its own
and each side of the ratio is the fastest call seen, the measure least
disturbed by other processes.

:func:`measure_targets` returns one row per target with its threshold,
measured ratio and PASS/MISS (or SKIP when PyTorch is missing or the
machine has fewer threads than the target asks for).
"""

import math
import statistics
import time

from . import backends as B
from .machine import CpuMonitor, wait_idle

MIN_ROUNDS = 5
BLOCK_SECONDS = 0.02
MAX_BLOCK_SECONDS = 5.0
WAIT_IDLE_S = 0.0  # before each measurement, wait up to this long for a quiet machine
THREADS = 2
LENET_BATCH = 64
KERNEL_BATCH = 64

LENET_VS_TORCH = {"float32": 1.5, "float64": 2.0}
LENET_VS_REFERENCE = 100.0
THREAD_SCALING = 1.7
KERNEL_VS_TORCH = {"lenet-conv1": 1.0, "lenet-conv2": 1.0, "cifar-conv1": 0.5, "cifar-conv2": 0.5}
KERNEL_OPS = ("forward", "grad_input", "grad_weights")
COLD_LIMIT_S = 45.0
WARM_LIMIT_S = 3.0


def interleaved(entries, seconds, min_rounds=MIN_ROUNDS):
    """Time the callables of ``entries`` in alternating rounds.

    Each round runs every entry for one block: calls one after the other
    until the block's time is up (at least one call).  A block lasts
    ``BLOCK_SECONDS`` or, when an entry's single call is longer, that
    long, so that a fast entry paired with a slow one still gets as much
    time, and many more calls.

    Parameters
    ----------
    entries : list of (name, callable, context factory)
        The context (e.g. a thread count) is entered around every block.
    seconds : float
        Least total time to spend.
    min_rounds : int
        Least number of rounds.

    Returns
    -------
    dict
        name -> {"min": s, "median": s, "calls": n}, and "others_cpu": the
        share of the CPUs other processes used meanwhile (None if unknown).
    """
    if WAIT_IDLE_S > 0:
        wait_idle(WAIT_IDLE_S)
    monitor = CpuMonitor().start()
    samples = {name: [] for name, _, _ in entries}
    longest = 0.0
    for name, fn, context in entries:
        with context():
            fn()
            start = time.perf_counter()
            fn()
            longest = max(longest, time.perf_counter() - start)
    block = min(max(BLOCK_SECONDS, longest), MAX_BLOCK_SECONDS)
    start = time.perf_counter()
    rounds = 0
    while rounds < min_rounds or time.perf_counter() - start < seconds:
        for name, fn, context in entries:
            with context():
                block_start = time.perf_counter()
                while True:
                    t0 = time.perf_counter()
                    fn()
                    t1 = time.perf_counter()
                    samples[name].append(t1 - t0)
                    if t1 - block_start >= block:
                        break
        rounds += 1
    out = {
        name: {"min": min(s), "median": statistics.median(s), "calls": len(s)}
        for name, s in samples.items()
    }
    out["others_cpu"] = monitor.stop()
    return out


def _busy(times):
    share = times.get("others_cpu")
    return "" if share is None else f" (other processes: {share:.0%} of the CPUs)"


def _ctx(backend, n):
    return lambda: B.threads(backend, n)


def _row(name, threshold, ratio, *, kind, detail, info=None, skip=None):
    if skip:
        result = "SKIP"
    else:
        result = "PASS" if ratio >= threshold else "MISS"
    return dict(target=name, kind=kind, threshold=threshold, ratio=ratio, result=result,
                detail=detail, info=info or {}, skip_reason=skip, others_cpu=detail.get("others_cpu"))


def lenet_targets(seconds, log=print):
    rows = []
    torch = B.import_torch()
    enough = B.max_threads() >= THREADS
    for dtype in ("float32", "float64"):
        entries = []
        for n in (1, THREADS):
            if n <= B.max_threads():
                net = B.make_lenet("fastlayers", LENET_BATCH, dtype)
                entries.append((f"fastlayers-t{n}", net.step, _ctx("fastlayers", n)))
        if torch is not None:
            for n in (1, THREADS):
                if n <= B.max_threads():
                    net = B.make_lenet("torch", LENET_BATCH, dtype)
                    entries.append((f"torch-t{n}", net.step, _ctx("torch", n)))
        times = interleaved(entries, seconds)
        log(f"  LeNet step, batch {LENET_BATCH}, {dtype}: "
            + ", ".join(f"{k} {v['min'] * 1e3:.2f} ms" for k, v in times.items() if k != "others_cpu")
            + _busy(times))
        fl = times.get(f"fastlayers-t{THREADS}")
        th = LENET_VS_TORCH[dtype]
        name = f"LeNet step, batch {LENET_BATCH}, {THREADS} threads, {dtype}: fastlayers / PyTorch throughput"
        if torch is None or not enough:
            rows.append(_row(name, th, math.nan, kind="lenet-vs-torch", detail=times,
                             skip=B.TORCH_MISSING if torch is None else f"needs {THREADS} threads"))
        else:
            ratio = times[f"torch-t{THREADS}"]["min"] / fl["min"]
            info = {"1 thread each": times["torch-t1"]["min"] / times["fastlayers-t1"]["min"]}
            rows.append(_row(name, th, ratio, kind="lenet-vs-torch", detail=times, info=info))
        name = f"LeNet step, batch {LENET_BATCH}, {dtype}, fastlayers: {THREADS} threads / 1 thread throughput"
        if not enough:
            rows.append(_row(name, THREAD_SCALING, math.nan, kind="threads", detail=times,
                             skip=f"needs {THREADS} threads"))
        else:
            ratio = times["fastlayers-t1"]["min"] / fl["min"]
            info = {}
            if torch is not None:
                info["PyTorch, same ratio"] = times["torch-t1"]["min"] / times[f"torch-t{THREADS}"]["min"]
            rows.append(_row(name, THREAD_SCALING, ratio, kind="threads", detail=times, info=info))
    # Against the reference layers: one reference step takes seconds, so
    # the round count decides the time here.
    n = min(THREADS, B.max_threads())
    entries = [
        ("fastlayers", B.make_lenet("fastlayers", LENET_BATCH, "float64").step, _ctx("fastlayers", n)),
        ("reference", B.make_lenet("reference", LENET_BATCH, "float64").step, _ctx("reference", None)),
    ]
    times = interleaved(entries, 0.0, min_rounds=4)
    log(f"  LeNet step, batch {LENET_BATCH}, float64: fastlayers {times['fastlayers']['min'] * 1e3:.2f} ms, "
        f"reference {times['reference']['min']:.2f} s" + _busy(times))
    rows.append(_row(
        f"LeNet step, batch {LENET_BATCH}, float64: fastlayers ({n} threads) / reference layers throughput",
        LENET_VS_REFERENCE, times["reference"]["min"] / times["fastlayers"]["min"],
        kind="lenet-vs-reference", detail=times,
    ))
    return rows


def kernel_targets(seconds, log=print):
    rows = []
    torch = B.import_torch()
    n = min(THREADS, B.max_threads())
    for layer, threshold in KERNEL_VS_TORCH.items():
        spec = B.conv_spec(layer, KERNEL_BATCH)
        for dtype in ("float32", "float64"):
            data = B.conv_data(spec, B.DTYPES[dtype])
            kernel = B.FastlayersKernelConv(spec, data)
            layer_level = B.FastlayersConv(spec, data)
            reference_torch = B.TorchConv(spec, data) if torch is not None else None
            for op in KERNEL_OPS:
                name = (f"{spec.label}, batch {KERNEL_BATCH}, {dtype}, {op}: "
                        f"PyTorch time / fastlayers kernel time")
                entries = [("kernel", kernel.op(op), _ctx("fastlayers-kernel", n))]
                if op in layer_level.ops:
                    entries.append(("layer", layer_level.op(op), _ctx("fastlayers", n)))
                if reference_torch is None:
                    times = interleaved(entries, seconds / 3)
                    rows.append(_row(name, threshold, math.nan, kind="kernel-vs-torch", detail=times,
                                     skip=B.TORCH_MISSING))
                    continue
                entries.append(("torch", reference_torch.op(op), _ctx("torch", n)))
                times = interleaved(entries, seconds)
                ratio = times["torch"]["min"] / times["kernel"]["min"]
                info = {}
                if "layer" in times:
                    info["layer-level (ConvolutionalLayer) ratio"] = times["torch"]["min"] / times["layer"]["min"]
                log(f"  {layer} {dtype} {op}: kernel {times['kernel']['min'] * 1e6:.0f} us, "
                    f"torch {times['torch']['min'] * 1e6:.0f} us, ratio {ratio:.2f}" + _busy(times))
                row = _row(name, threshold, ratio, kind="kernel-vs-torch", detail=times, info=info)
                row.update(layer=layer, dtype=dtype, op=op)
                rows.append(row)
    return rows


def compile_rows(results):
    rows = []
    for r in results:
        dtype = r["dtype"]
        for which, limit in (("cold", COLD_LIMIT_S), ("warm", WARM_LIMIT_S)):
            seconds = r[f"{which}_s"]
            rows.append(dict(
                target=f"New process to its first LeNet step ({dtype}), {which} kernel cache: seconds",
                kind="compile", threshold=limit, ratio=seconds,
                result="PASS" if seconds <= limit else "MISS", detail=r, info={}, skip_reason=None,
                lower_is_better=True,
            ))
    return rows


def memory_rows(results):
    from .memory import RSS_LIMIT_PER_STEP, passed

    rows = []
    for r in results:
        nrt = r.get("nrt_unfreed_per_step")
        rows.append(dict(
            target=(f"Memory growth over {r['steps']} LeNet steps (batch {r['batch']}, {r['dtype']}): "
                    f"traced Python/NumPy bytes per step"),
            kind="memory", threshold=r["traced_limit_per_step"], ratio=r["traced_growth_per_step"],
            result="PASS" if passed(r) else "MISS", detail=r,
            info={}, notes=[
                f"numba runtime: {'n/a' if nrt is None else f'{nrt:g}'} unfreed allocations/step (limit 0)",
                f"RSS peak growth {r['rss_robust_growth_per_step']:+.0f} B/step (limit {RSS_LIMIT_PER_STEP})",
            ],
            skip_reason=None, lower_is_better=True,
        ))
    return rows
