"""Timing and checking helpers shared by the benchmark tests."""

import math
import os
import time

import numpy as np

from .machine import CpuMonitor, wait_idle_from_env

# Seconds of timed calls per case (after the warm-up), by mode.
BUDGET = {"smoke": 0.0, "quick": 0.2, "full": 0.5}
MIN_ROUNDS = 5
MAX_ROUNDS = 20000
SLOW_CALL = 0.5  # seconds: such calls are timed in 3 rounds
SHORTEST_ROUND = 20e-6  # seconds: faster calls are repeated within one round

# Tolerance of a result relative to the largest magnitude of the expected one.
TOLERANCE = {"float64": 1e-9, "float32": 1e-3}


def budget(mode):
    value = os.environ.get("FASTLAYERS_BENCH_BUDGET")
    return float(value) if value else BUDGET[mode]


def measure(benchmark, fn, seconds):
    """Time ``fn`` with the pytest-benchmark fixture and return its last result.

    Untimed (``--benchmark-disable``) this is one plain call.  Timed, one
    call first compiles and warms every cache, a second one estimates the
    cost, then ``fn`` runs for about ``seconds`` in rounds of a single call
    (several calls only when one takes under 20 microseconds), at least
    five rounds (three for calls over half a second).  The report's tables
    use the median over the rounds (the minimum is kept in
    ``results.json``); the targets are timed apart, in worker processes
    (:mod:`bench.throughput`).

    With ``FASTLAYERS_BENCH_WAIT_IDLE=seconds`` set, the timing waits up to
    that long for other processes to leave the CPUs alone; either way the
    share of CPU time others used while it ran is recorded in the
    benchmark's ``extra_info["others_cpu"]``.
    """
    if benchmark.disabled:
        return benchmark(fn)
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    waited, _ = wait_idle_from_env()
    monitor = CpuMonitor().start()
    if once >= SLOW_CALL:
        result = benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=0)
    else:
        iterations = max(1, math.ceil(SHORTEST_ROUND / once))
        rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, seconds / (once * iterations))))
        result = benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
    benchmark.extra_info["others_cpu"] = monitor.stop()
    benchmark.extra_info["waited_for_idle_s"] = waited
    return result


def assert_close(actual, expected, dtype, what=""):
    """Assert that tuples of arrays agree to the tolerance of ``dtype``.

    The tolerance is relative to the largest magnitude in each expected
    array, so entries that cancel to almost zero do not fail a correct
    float32 result.
    """
    assert len(actual) == len(expected), f"{what}: {len(actual)} results, expected {len(expected)}"
    tol = TOLERANCE[str(np.dtype(dtype))]
    for i, (a, e) in enumerate(zip(actual, expected)):
        a = np.asarray(a, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        assert a.shape == e.shape, f"{what} result {i}: shape {a.shape}, expected {e.shape}"
        assert np.all(np.isfinite(a)), f"{what} result {i}: not finite"
        scale = float(np.max(np.abs(e))) if e.size else 0.0
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol * scale, err_msg=f"{what} result {i}")


def annotate(benchmark, case, **extra):
    """Record the case in the benchmark's JSON (``extra_info``) and group it."""
    benchmark.group = f"{case.suite} {case.layer} b{case.batch} {case.dtype} {case.op}"
    benchmark.extra_info.update(case.info(), **extra)
