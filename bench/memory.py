"""Memory growth over many LeNet training steps (fastlayers, batch 64).

Two passes over ``steps`` training steps each, after ``warmup`` steps that
let every cache (kernel dispatch, the allocator's per-thread pools) settle:

* **RSS**: the resident set size from ``/proc/self/statm``, sampled every
  ``sample_every`` steps.  The growth per step is the peak RSS of the
  second half of the steps minus that of the first half, over half the
  steps (RSS swings by megabytes as the allocator maps and unmaps large
  blocks; a leak raises the peaks); the least-squares slope and
  (last - first) / steps are reported too.  The same pass counts the allocations of numba's runtime
  (``np.empty`` inside a kernel) that were not freed.
* **tracemalloc**: the traced Python and NumPy allocations still alive
  after the steps minus those alive before, divided by the steps.

A step is ``net.forward(); net.backward()``: ``NeuralNetwork.train``
would also append every loss to ``net.loss``, a list that grows by design.

Usage::

    python -m bench.memory [--steps 1000] [--batch 64] [--dtype float64] [--json FILE]
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc

# RSS swings by megabytes as the allocator maps and unmaps large blocks, so
# it catches only large leaks; tracemalloc (Python and NumPy allocations)
# and numba's runtime counters catch every one.
RSS_LIMIT_PER_STEP = 8192  # bytes
TRACED_LIMIT_PER_STEP = 16  # bytes


def rss_bytes():
    """Resident set size of this process (Linux ``/proc/self/statm``), or None elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            resident_pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def _slope(xs, ys):
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def _nrt_outstanding():
    """Allocations numba's runtime made and has not freed yet (None if unavailable).

    The kernels' own allocations (``np.empty`` inside an ``@njit``
    function) go through numba's runtime and ``malloc``, where tracemalloc
    does not see them; the runtime counts them once its statistics are on.
    """
    try:
        from numba.core.runtime import _nrt_python, rtsys

        _nrt_python.memsys_enable_stats()
        stats = rtsys.get_allocation_stats()
    except (ImportError, AttributeError, RuntimeError):
        return None
    return stats.alloc - stats.free


def measure(steps=1000, batch=64, dtype="float64", warmup=200, sample_every=10):
    """Run the passes in this process and return the growth figures."""
    from .lenet import fastlayers_lenet, train_step

    net = fastlayers_lenet(batch, dtype)
    _nrt_outstanding()  # switch numba's allocation statistics on
    for _ in range(warmup):
        train_step(net)
    gc.collect()

    # Pass 1: RSS and numba's runtime allocations.
    nrt_before = _nrt_outstanding()
    rss_steps, rss_values = [0], [rss_bytes()]
    start = time.perf_counter()
    for i in range(1, steps + 1):
        loss = train_step(net)
        if i % sample_every == 0 or i == steps:
            rss_steps.append(i)
            rss_values.append(rss_bytes())
    elapsed = time.perf_counter() - start
    nrt_after = _nrt_outstanding()
    have_rss = rss_values[0] is not None
    rss_growth = rss_slope = rss_robust = None
    if have_rss:
        rss_growth = (rss_values[-1] - rss_values[0]) / steps
        rss_slope = _slope(rss_steps, rss_values)
        # The allocator maps and unmaps large blocks as it pleases, so RSS
        # swings by megabytes from step to step; a leak raises its peaks.
        half = len(rss_values) // 2
        rss_robust = (max(rss_values[half:]) - max(rss_values[:half])) / (steps / 2)
    nrt_growth = (
        None if nrt_before is None or nrt_after is None else (nrt_after - nrt_before) / steps
    )

    # Pass 2: tracemalloc.  Traced memory first grows by a few dozen bytes
    # a step and then stops (43.8, 3.1, 0.4, 0.1 B/step over four blocks of
    # 1000 steps): interpreter free lists filling up while traced, bounded,
    # not a leak.  So ``steps`` traced steps pass before the measured ones.
    gc.collect()
    tracemalloc.start()
    for _ in range(steps):
        train_step(net)
    gc.collect()
    traced_before, _ = tracemalloc.get_traced_memory()
    for _ in range(steps):
        loss = train_step(net)
    gc.collect()
    traced_after, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    traced_growth = (traced_after - traced_before) / steps

    return dict(
        steps=steps,
        batch=batch,
        dtype=dtype,
        warmup=warmup,
        final_loss=float(loss),
        seconds_per_step=elapsed / steps,
        rss_start=rss_values[0],
        rss_end=rss_values[-1],
        rss_growth_per_step=rss_growth,
        rss_slope_per_step=rss_slope,
        rss_robust_growth_per_step=rss_robust,
        nrt_unfreed_per_step=nrt_growth,
        traced_before=traced_before,
        traced_after=traced_after,
        traced_peak=traced_peak,
        traced_growth_per_step=traced_growth,
        rss_limit_per_step=RSS_LIMIT_PER_STEP,
        traced_limit_per_step=TRACED_LIMIT_PER_STEP,
    )


def passed(result):
    """True when no measure of memory grows per step beyond its limit.

    Python and NumPy allocations (tracemalloc) and numba's runtime
    allocations must not grow at all (to the limits' rounding); the
    resident set size, which also moves with the allocator's pools, must
    not raise its peak by more than ``RSS_LIMIT_PER_STEP`` per step from the
    first half of the run to the second.
    """
    rss = result.get("rss_robust_growth_per_step")
    nrt = result.get("nrt_unfreed_per_step")
    return (
        (rss is None or rss <= RSS_LIMIT_PER_STEP)
        and (nrt is None or nrt <= 0)
        and result["traced_growth_per_step"] <= TRACED_LIMIT_PER_STEP
    )


def measure_in_subprocess(steps=1000, batch=64, dtype="float64", timeout=1800, warmup=200):
    """Run :func:`measure` in a fresh process (a clean RSS baseline) and return its result."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [
        sys.executable,
        "-m",
        "bench.memory",
        "--steps",
        str(steps),
        "--batch",
        str(batch),
        "--dtype",
        dtype,
        "--warmup",
        str(warmup),
        "--print-json",
    ]
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument(
        "--print-json", action="store_true", help="print the result as one JSON line"
    )
    args = parser.parse_args(argv)
    result = measure(args.steps, args.batch, args.dtype, args.warmup)
    if args.print_json:
        print(json.dumps(result))
    else:
        print(
            f"{args.steps} steps, batch {args.batch}, {args.dtype}: "
            f"RSS {result['rss_robust_growth_per_step']:+.1f} B/step "
            f"(slope {result['rss_slope_per_step']:+.1f}, end - start {result['rss_growth_per_step']:+.1f}); "
            f"numba runtime {result['nrt_unfreed_per_step']} unfreed allocations/step; "
            f"tracemalloc {result['traced_growth_per_step']:+.2f} B/step; "
            f"{'PASS' if passed(result) else 'MISS'}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
