"""Compile time and memory growth: the in-process code paths, and the real measurements on request.

The real measurements start subprocesses and run for a minute or more, so
they are skipped unless ``FASTLAYERS_BENCH_SLOW=1`` is set;
``python -m bench.report`` runs them itself.  Without it, the tests below
still run the code that the measurements run, on a small scale.
"""

import math
import os

import pytest

from . import compile_time, memory

slow = pytest.mark.skipif(
    os.environ.get("FASTLAYERS_BENCH_SLOW") != "1",
    reason="starts subprocesses for a minute or more: set FASTLAYERS_BENCH_SLOW=1 "
    "(python -m bench.report measures it anyway)",
)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_first_step_child(dtype, capsys):
    info = compile_time.child(dtype, batch=4)
    assert info["dtype"] == dtype
    assert math.isfinite(info["loss"])
    assert all(info[key] >= 0 for key in ("import_s", "build_s", "first_step_s", "second_step_s"))
    assert compile_time.READY in capsys.readouterr().out


def test_memory_small():
    result = memory.measure(steps=20, batch=4, warmup=3, sample_every=5)
    assert math.isfinite(result["final_loss"])
    assert result["traced_growth_per_step"] is not None
    # Every allocation the kernels make is freed again, step after step.
    assert result["nrt_unfreed_per_step"] in (None, 0)
    if memory.rss_bytes() is not None:
        assert result["rss_start"] > 0 and result["rss_robust_growth_per_step"] is not None


@slow
def test_compile_time_subprocesses():
    (result,) = compile_time.measure(dtypes=("float64",), warm_runs=1, log=lambda *_: None)
    assert result["cold_s"] > 0 and result["warm_s"] > 0
    assert math.isfinite(result["cold"]["loss"])


@slow
def test_memory_growth_subprocess():
    result = memory.measure_in_subprocess(steps=1000, batch=64, dtype="float64")
    assert memory.passed(result), result


def test_throughput_workers():
    """Two sides in worker processes of their own, timed in interleaved windows."""
    from .throughput import Entry, WorkerError, measure

    spec = dict(kind="kernel", layer="lenet-conv2", op="forward", dtype="float64", batch=2)
    entries = [
        Entry("kernel", "fastlayers-kernel", 1, faults=True, **spec),
        Entry("im2col", "im2col", None, **spec),
    ]
    times = measure(entries, window=0.01, windows=3, faults_calls=5)
    for name in ("kernel", "im2col"):
        res = times[name]
        assert len(res["windows"]) == 3 and all(w > 0 for w in res["windows"])
        assert res["windows"][0] <= res["median"] * 10
        assert min(res["windows"]) <= res["median"] <= max(res["windows"])
        # the fastest call is at least as fast as the mean call of any window
        assert res["best"] >= max(res["windows"]) * (1 - 1e-9)
        assert res["calls"] >= 3 and res["minflt_per_call"] >= 0
    assert times["kernel"]["faults_per_call"] >= 0 and "faults_per_call" not in times["im2col"]
    with pytest.raises(WorkerError, match="build_workload: expected kind"):
        measure([Entry("bad", "im2col", None, kind="nothing")], window=0.01, windows=1)
