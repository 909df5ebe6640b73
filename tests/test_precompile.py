"""Kernels compiled before a step runs: the whole list, the cache shared across processes.

Each check that depends on what is compiled runs in a fresh process with
an empty numba cache of its own (``NUMBA_CACHE_DIR``), so that neither
this test process's kernels in memory nor an earlier cache decide it.
A small fully connected network keeps the compilation short.
"""

import copy
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from fastlayers import (
    FullyConnectedLayer,
    NeuralNetwork,
    ReLU,
    SoftMaxCrossEntropyLoss,
    _precompile,
    kernels,
)
from fastlayers.initializers import Const, He
from fastlayers.layers import DropOut

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Builds `net` (fully connected layers and ReLU, float32), `x` and
# `labels`, `step` (one training step) and `compiles` (numba's compilation
# events, counted from here on).
SETUP = """
import json, os, sys
import numpy as np
from numba.core import event
from fastlayers import FullyConnectedLayer, NeuralNetwork, ReLU, SoftMaxCrossEntropyLoss, He, Const
from fastlayers import _precompile

def make_net():
    np.random.seed(0)
    net = NeuralNetwork(He(), Const(0.1), dtype=np.float32)
    net.append_trainable_layer(FullyConnectedLayer(20, 16, 0.1, dtype=np.float32))
    net.append_fixed_layer(ReLU())
    net.append_trainable_layer(FullyConnectedLayer(16, 4, 0.1, dtype=np.float32))
    net.loss_layer = SoftMaxCrossEntropyLoss()
    return net

def step(net, x, labels):
    net.data_layer = type("Data", (), {"forward": lambda self: (x, labels)})()
    loss = net.forward()
    net.backward()
    return float(loss)

rng = np.random.default_rng(1)
x = rng.standard_normal((8, 20)).astype(np.float32)
labels = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
net = make_net()

compiles = []
class _Count(event.Listener):
    def on_start(self, ev):
        compiles.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", _Count())

def hits():
    return sum(sum(k.stats.cache_hits.values()) for k, _ in entries)
"""


def _run(code, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SETUP) + textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _small_net(dropout=False):
    np.random.seed(0)
    net = NeuralNetwork(He(), Const(0.1))
    net.append_trainable_layer(FullyConnectedLayer(6, 5, 0.1))
    net.append_fixed_layer(ReLU())
    if dropout:
        net.append_fixed_layer(DropOut(0.5))
    net.append_trainable_layer(FullyConnectedLayer(5, 3, 0.1))
    net.loss_layer = SoftMaxCrossEntropyLoss()
    return net


def _step(net, x, labels):
    net.data_layer = type("Data", (), {"forward": lambda self: (x, labels)})()
    loss = net.forward()
    net.backward()
    return loss


def test_plan_runs_no_kernel_and_changes_nothing():
    net = _small_net(dropout=True)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6))
    labels = np.eye(3)[[0, 1, 2, 0]]
    before = copy.deepcopy(net)
    x_before = x.copy()
    state = np.random.get_state()
    entries = _precompile.plan(_step, net, x, labels)
    names = [kernel.py_func.__name__ for kernel, _ in entries]
    # The dense products of both layers, forward and backward: this small
    # work runs on the one-thread twins, so those are what is listed.
    assert {"matmul_serial", "matmul_nt_serial"} <= set(names)
    assert len(set(map(repr, entries))) == len(entries)  # each pair once
    # Arguments and the global random state (drawn from by dropout) untouched.
    np.testing.assert_array_equal(x, x_before)
    for a, b in zip(net.layers, before.layers):
        if hasattr(a, "weights"):
            np.testing.assert_array_equal(a.weights, b.weights)
    after = np.random.get_state()
    assert all(np.array_equal(u, v) for u, v in zip(state[1:], after[1:]))
    # The step then runs as it would have: same loss as an untouched copy
    # (with the same dropout masks).
    np.random.seed(5)
    loss = _step(net, x, labels)
    np.random.seed(5)
    assert loss == _step(before, x, labels)


def test_plan_names_the_kernel_behind_a_python_wrapper():
    # conv2d_grad_weights is a Python function that picks a compiled kernel.
    xp = np.zeros((1, 5, 5, 2))
    err = np.zeros((2, 3, 3, 2))
    args = (xp, err, 1, 1, np.zeros((2, 1, 3, 3)), np.zeros(2))
    kernel, call = kernels.conv2d_grad_weights.compiled_call(*args)
    assert kernel is kernels.conv._grad_weights_unit_stride_x
    assert call == (xp, err, 1, args[4], args[5])
    kernel, call = kernels.conv2d_grad_weights.compiled_call(xp, err, 1, 2, *args[4:])
    assert kernel is kernels.conv._grad_weights_strided
    assert len(call) == 6


def test_precompile_compiles_everything_the_step_needs(tmp_path):
    # Without a helper: after precompile the step itself compiles nothing,
    # and a new process with the same cache loads every kernel from it.
    code = """
    entries = _precompile.plan(step, net, x, labels)
    planned = len(compiles)
    _precompile.compile_entries(entries, helpers=0)
    compiled_ahead = len(compiles)
    loss = step(net, x, labels)
    print(json.dumps(dict(planned=planned, ahead=compiled_ahead,
                          during=len(compiles) - compiled_ahead, hits=hits(), loss=loss)))
    """
    first = _run(code, tmp_path)
    # The dry run compiles nothing; precompile everything the step needs.
    assert first["planned"] == 0
    assert first["ahead"] > 0 and first["during"] == 0
    second = _run(code, tmp_path)
    assert second["ahead"] == 0 and second["during"] == 0 and second["hits"] > 0
    assert second["loss"] == first["loss"]


def test_helper_compiles_into_the_cache_this_process_loads(tmp_path):
    # The helper process on its own (nothing claimed by this one) compiles
    # the whole plan into the cache; this process then loads every entry.
    cache = tmp_path / "cache"
    code = """
    import pickle, subprocess, tempfile
    entries = _precompile.plan(step, net, x, labels)
    directory = tempfile.mkdtemp()
    spec = [(k.py_func.__module__, _precompile._attribute_path(k), t) for k, t in entries]
    with open(os.path.join(directory, "plan.pickle"), "wb") as fh:
        pickle.dump(spec, fh)
    subprocess.run([sys.executable, "-c", _precompile._HELPER_COMMAND, directory], check=True)
    claims = _precompile._Claims(directory)
    done = all(claims.finished(_precompile._entry_name(k, t)) for k, t in entries)
    _precompile.compile_entries(entries, helpers=0)
    loss = step(net, x, labels)
    print(json.dumps(dict(done=done, compiles=len(compiles), hits=hits(),
                          entries=len(entries), loss=loss)))
    """
    out = _run(code, cache)
    assert out["done"]
    assert out["compiles"] == 0
    assert out["hits"] == out["entries"]
    reference = _run(
        """
    entries = []
    print(json.dumps(dict(loss=step(net, x, labels))))
    """,
        tmp_path / "alone",
    )
    assert out["loss"] == reference["loss"]


def test_shared_compilation_and_warm_cache(tmp_path):
    # With a cold cache a helper starts (asked for explicitly: on any
    # machine) and the two processes together compile the plan: the step
    # compiles nothing.  With the cache warm no helper starts.
    code = """
    entries = _precompile.plan(step, net, x, labels)
    helpers = _precompile.compile_entries(entries, helpers=1)
    ahead = len(compiles)
    loss = step(net, x, labels)
    print(json.dumps(dict(started=bool(helpers),
                          during=len(compiles) - ahead, loss=loss)))
    """
    cold = _run(code, tmp_path)
    assert cold["started"] and cold["during"] == 0
    warm = _run(code, tmp_path)
    assert not warm["started"] and warm["during"] == 0
    assert warm["loss"] == cold["loss"]


def test_claims_are_exclusive(tmp_path):
    a, b = _precompile._Claims(str(tmp_path)), _precompile._Claims(str(tmp_path))
    assert a.claim("k")
    assert not b.claim("k")
    assert not b.finished("k")
    a.finish("k")
    assert b.finished("k")


def test_nothing_to_compile_starts_no_helper():
    net = _small_net()
    x = np.random.default_rng(3).standard_normal((4, 6))
    labels = np.eye(3)[[0, 1, 2, 0]]
    _step(copy.deepcopy(net), x, labels)  # compiles in this process
    entries = _precompile.plan(_step, net, x, labels)
    assert entries
    assert _precompile.compile_entries(entries, helpers=1) is None


def test_dry_run_leaves_other_threads_kernels_running():
    # While one thread lists a step's kernels (kernel calls recorded and
    # skipped), another thread's kernels must run and give their results.
    import threading

    from fastlayers import functional as F

    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8))
    w = np.random.default_rng(4).standard_normal((4, 3, 3, 3))
    expected = F.conv2d(x, w)
    inside, results = threading.Event(), []

    def step():
        F.relu(np.ones(3))  # recorded, not run
        inside.set()
        finished.wait(timeout=30)

    def other():
        inside.wait(timeout=30)
        results.append(F.conv2d(x, w))
        finished.set()

    finished = threading.Event()
    worker = threading.Thread(target=other)
    worker.start()
    entries = _precompile.plan(step)
    worker.join()
    assert [k.py_func.__name__ for k, _ in entries] == ["relu_forward"]
    np.testing.assert_array_equal(results[0], expected)


def test_helpers_import_this_process_fastlayers_not_the_current_directory_s(tmp_path):
    # Run from a folder holding another "fastlayers" (a clone of the
    # repository, say): "python -c" puts the current directory first on the
    # path, and a helper that imported that copy would fill a cache this
    # process never reads.
    fake = tmp_path / "cwd" / "fastlayers"
    fake.mkdir(parents=True)
    marker = tmp_path / "imported-the-other-copy"
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(SETUP)
        + textwrap.dedent(
            """
            entries = _precompile.plan(step, net, x, labels)
            processes = _precompile.compile_entries(entries, helpers=1)
            for p in processes:
                p.wait()
            print(json.dumps({"codes": [p.returncode for p in processes]}))
            """
        )
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=str(tmp_path / "cwd"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    codes = json.loads(proc.stdout.strip().splitlines()[-1])["codes"]
    assert codes and all(code in (0, -15) for code in codes)  # done, or stopped at the end
    assert not marker.exists()
