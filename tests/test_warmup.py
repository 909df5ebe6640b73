"""Compilation shared with a helper process: same results, the cache filled across processes.

Each check that depends on what is compiled runs in a fresh process with
an empty numba cache of its own (``NUMBA_CACHE_DIR``), so that neither
this test process's kernels in memory nor an earlier cache decide it.
A small fully connected network keeps the compilation short.
"""

import json
import os
import subprocess
import sys
import textwrap

from fastlayers._warmup import CompileSharing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Builds `net` (fully connected layers and ReLU, float32) and `job`, the
# arguments of the trainer's warm-up step for it.
SETUP = """
import copy, json, os, pickle, sys
import numpy as np
from fastlayers import FullyConnectedLayer, NeuralNetwork, ReLU, SoftMaxCrossEntropyLoss, He, Const
from fastlayers import _warmup
from fastlayers.training.trainer import _warm_up_step

def make_net():
    np.random.seed(0)
    net = NeuralNetwork(He(), Const(0.1), dtype=np.float32)
    net.append_trainable_layer(FullyConnectedLayer(20, 16, 0.1, dtype=np.float32))
    net.append_fixed_layer(ReLU())
    net.append_trainable_layer(FullyConnectedLayer(16, 4, 0.1, dtype=np.float32))
    net.loss_layer = SoftMaxCrossEntropyLoss()
    return net

rng = np.random.default_rng(1)
x = rng.standard_normal((8, 20)).astype(np.float32)
labels = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
job = (make_net(), x, labels, "mean", x[:5])

def parameters(net):
    return [np.array(layer.weights) for layer in net.layers if hasattr(layer, "weights")]

def misses_and_hits():
    misses = hits = 0
    for d in _warmup.kernel_dispatchers():
        misses += sum(d.stats.cache_misses.values())
        hits += sum(d.stats.cache_hits.values())
    return misses, hits
"""


def _run(code, cache_dir, tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SETUP) + textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_helper_dry_run_compiles_what_the_step_needs_into_the_cache(tmp_path):
    # The helper alone, as the trainer's process starts it: a dry run lists
    # the step's kernels (running none of them), then it compiles them.
    cache = tmp_path / "cache"
    claims = tmp_path / "claims"
    claims.mkdir()
    out = _run(
        f"""
        with open(os.path.join({str(claims)!r}, "job.pickle"), "wb") as fh:
            pickle.dump((_warm_up_step, job), fh)
        helper = _warmup._Helper(_warmup._Claims({str(claims)!r}))
        unhook = _warmup._hook(_warmup.kernel_dispatchers(), helper.hook)
        _warm_up_step(*job)
        unhook()
        names = [d.py_func.__name__ for d, _ in helper.needed.values()]
        print(json.dumps(dict(names=names, misses_and_hits=misses_and_hits())))
        """,
        cache,
        tmp_path,
    )
    dry = json.loads(out)
    # Forward products, the ReLU, then the backward products, in call order;
    # nothing was compiled or loaded by the dry run, so no kernel ran.
    assert dry["names"][0] == "matmul"
    assert {"matmul_tn", "matmul_nt", "relu_forward", "relu_backward"} <= set(dry["names"])
    assert dry["names"].index("matmul_tn") > dry["names"].index("relu_forward")
    assert dry["misses_and_hits"] == [0, 0]

    # The helper process proper compiles every listed kernel into the cache ...
    proc = subprocess.run(
        [sys.executable, "-m", "fastlayers._warmup", str(claims)],
        cwd=tmp_path,
        env=dict(
            os.environ,
            NUMBA_CACHE_DIR=str(cache),
            PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    done = sorted(p.name for p in claims.iterdir() if p.name.endswith(".done"))
    assert len(done) == len(set(dry["names"])) == len(dry["names"])

    # ... where a new process finds all of them: the same step compiles nothing.
    out = _run(
        """
        _warm_up_step(*job)
        print(json.dumps(misses_and_hits()))
        """,
        cache,
        tmp_path,
    )
    misses, hits = json.loads(out)
    assert misses == 0
    assert hits >= len(dry["names"])


def test_shared_warm_up_gives_the_results_of_a_lone_one(tmp_path):
    # With a cold cache the helper starts (min_cpus=1 forces it on any
    # machine); the step's parameters are bitwise those of the same step
    # in a process that compiled alone, and a second sharing, with every
    # kernel in memory, starts no helper.
    out = _run(
        """
        reference = copy.deepcopy(job)
        with _warmup.CompileSharing(_warm_up_step, job, min_cpus=1) as sharing:
            _warm_up_step(*job)
        started = bool(sharing.process)
        exit_code = sharing.process.returncode if sharing.process else None
        _warm_up_step(*reference)
        same = all(np.array_equal(a, b)
                   for a, b in zip(parameters(job[0]), parameters(reference[0])))
        again = copy.deepcopy(reference)
        with _warmup.CompileSharing(_warm_up_step, again, min_cpus=1) as second:
            _warm_up_step(*again)
        hooked = any("_compile_for_args" in vars(d) for d in _warmup.kernel_dispatchers())
        print(json.dumps(dict(started=started, same=same, second=second.process,
                              hooked=hooked, exit_code=exit_code)))
        """,
        tmp_path / "cache",
        tmp_path,
    )
    report = json.loads(out)
    assert report["started"]
    assert report["exit_code"] is not None  # waited for or stopped on leaving
    assert report["same"]
    assert report["second"] is None
    assert not report["hooked"]  # numba's own dispatch is back after the context


def test_unpicklable_job_compiles_alone():
    sharing = CompileSharing(lambda: None, ())
    with sharing:
        pass
    assert sharing.process is None
    assert sharing.directory is None


def test_claims_are_exclusive(tmp_path):
    from fastlayers._warmup import _Claims

    a, b = _Claims(str(tmp_path)), _Claims(str(tmp_path))
    assert a.claim("k")
    assert not b.claim("k")
    assert not b.finished("k")
    a.finish("k")
    assert b.finished("k")


def test_no_helper_below_min_cpus():
    sharing = CompileSharing(print, (), min_cpus=10**6)
    with sharing:
        pass
    assert sharing.process is None and sharing.directory is None
