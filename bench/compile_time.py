"""Time from a new process to its first LeNet training step, cold and warm kernel cache.

Each measurement starts a fresh Python process that imports fastlayers,
builds the tutorial's LeNet (batch 64) and runs one training step, with
``NUMBA_CACHE_DIR`` pointing at a directory of its own:

* **cold**: a new, empty directory: every kernel the step uses is compiled;
* **warm**: the same directory again: the kernels are loaded from disk.

The time is measured by the parent from starting the process until the
child reports that its first step is done, so it includes the
interpreter's start-up and every import.

Usage::

    python -m bench.compile_time [--dtype float64 float32] [--cold-runs 1] [--warm-runs 3]
                                 [--precompile] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

READY = "FIRST-STEP-DONE "
BATCH = 64


def child(dtype, batch=BATCH, precompile=False):
    """Import, build and train one step; print one line with the phase times.

    With ``precompile`` the step's kernels are compiled first by
    ``fastlayers.precompile`` (as ``fastlayers train`` does in its warm-up):
    in two processes at once where a second core is free.
    """
    t0 = time.perf_counter()
    import numpy as np  # noqa: F401  (part of what a user's script imports)

    import fastlayers  # noqa: F401

    from .lenet import fastlayers_lenet, train_step

    t1 = time.perf_counter()
    net = fastlayers_lenet(batch, dtype)
    t2 = time.perf_counter()
    if precompile:
        from fastlayers import precompile as compile_step

        compile_step(train_step, net)
    t_pre = time.perf_counter()
    loss = train_step(net)
    t3 = time.perf_counter()
    info = dict(
        dtype=dtype,
        batch=batch,
        import_s=t1 - t0,
        build_s=t2 - t1,
        first_step_s=t3 - t2,
        precompile_s=t_pre - t2,
        loss=float(loss),
    )
    print(READY + json.dumps(info), flush=True)
    # A second step for comparison: no compilation left.
    t4 = time.perf_counter()
    train_step(net)
    info["second_step_s"] = time.perf_counter() - t4
    print("SECOND " + json.dumps(info), flush=True)
    return info


def run_child(dtype, cache_dir, timeout=600, precompile=False):
    """Run :func:`child` in a new process; return its report plus ``wall_s``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "bench.compile_time", "--child", "--dtype", dtype]
    if precompile:
        cmd.append("--precompile")
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    info = None
    wall = None
    try:
        for line in proc.stdout:
            if line.startswith(READY):
                wall = time.perf_counter() - start
                info = json.loads(line[len(READY) :])
            elif line.startswith("SECOND ") and info is not None:
                info["second_step_s"] = json.loads(line[len("SECOND ") :])["second_step_s"]
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    if info is None or proc.returncode != 0:
        raise RuntimeError(f"compile-time child failed (exit {proc.returncode}):\n{stderr}")
    info["wall_s"] = wall
    return info


def measure(dtypes=("float64", "float32"), warm_runs=3, log=print, precompile=False, cold_runs=1):
    """Cold and warm first-step times per dtype.

    Each cold run has a new, empty cache directory of its own; the warm
    runs reuse the last one's.

    Returns
    -------
    list of dict
        One entry per dtype: ``cold`` (the last cold run), ``colds``
        (all ``cold_runs`` of them), ``warm`` (``warm_runs`` runs),
        ``cold_s`` and ``warm_s`` (medians).
    """
    results = []
    for dtype in dtypes:
        colds = []
        cache_dir = None
        try:
            for _ in range(cold_runs):
                if cache_dir is not None:
                    shutil.rmtree(cache_dir, ignore_errors=True)
                cache_dir = tempfile.mkdtemp(prefix="fastlayers-numba-cache-")
                cold = run_child(dtype, cache_dir, precompile=precompile)
                colds.append(cold)
                log(
                    f"  {dtype}: cold cache {cold['wall_s']:.2f} s"
                    f" (first step {cold['first_step_s']:.2f} s)"
                )
            cold_s = statistics.median(run["wall_s"] for run in colds)
            warm = [run_child(dtype, cache_dir, precompile=precompile) for _ in range(warm_runs)]
            warm_s = statistics.median(run["wall_s"] for run in warm)
            log(
                f"  {dtype}: cold {cold_s:.2f} s (median of {cold_runs}),"
                f" warm {warm_s:.2f} s (median of {warm_runs})"
            )
        finally:
            if cache_dir is not None:
                shutil.rmtree(cache_dir, ignore_errors=True)
        results.append(
            dict(
                dtype=dtype,
                batch=BATCH,
                precompile=precompile,
                cold=colds[-1],
                colds=colds,
                warm=warm,
                cold_s=cold_s,
                warm_s=warm_s,
            )
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dtype", nargs="+", default=["float64", "float32"], choices=["float64", "float32"]
    )
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument(
        "--precompile",
        action="store_true",
        help="compile the step's kernels first with fastlayers.precompile, as fastlayers train does",
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.dtype[0], precompile=args.precompile)
        return 0
    results = measure(
        args.dtype, args.warm_runs, precompile=args.precompile, cold_runs=args.cold_runs
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
