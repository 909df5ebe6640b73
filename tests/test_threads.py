"""Thread count and concurrent use of the layers from several Python threads."""

import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numba
import pytest

import fastlayers as fl

REPO = Path(__file__).resolve().parents[1]

# Four Python threads run conv, pooling and fully connected layers at once
# and compare every result with the one computed alone beforehand.
CONCURRENT_SCRIPT = textwrap.dedent(
    """
    import threading
    import numpy as np
    import fastlayers as fl

    def run(seed):
        rng = np.random.default_rng(seed)
        conv = fl.ConvolutionalLayer((1, 1), (3, 3, 3), 4, 0.0)
        conv.weights = rng.standard_normal(conv.weights.shape)
        pool = fl.MaxPoolLayer()
        flat = fl.FlattenLayer()
        fc = fl.FullyConnectedLayer(4 * 4 * 4, 5, 0.0)
        fc.weights = rng.standard_normal(fc.weights.shape)
        x = rng.standard_normal((6, 3, 8, 8))
        y = fc.forward(flat.forward(pool.forward(conv.forward(x))))
        e = conv.backward(pool.backward(flat.backward(fc.backward(np.ones_like(y)))))
        return y, e

    expected = {seed: run(seed) for seed in range(4)}
    failures = []

    def worker(seed):
        for _ in range(25):
            y, e = run(seed)
            if not (np.array_equal(y, expected[seed][0]) and np.array_equal(e, expected[seed][1])):
                failures.append(seed)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(fl.threading_layer(), "failures", failures)
    assert not failures
    """
)


def _tbb_wheel():
    try:
        return metadata.version("tbb") is not None
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.parametrize(
    "layer",
    [
        "default",
        "workqueue",
        # Asked for by name, the pip wheel's TBB is found as it is by default.
        pytest.param("tbb", marks=pytest.mark.skipif(not _tbb_wheel(), reason="no tbb wheel")),
    ],
)
def test_concurrent_python_threads_neither_abort_nor_corrupt(layer):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    proc = subprocess.run(
        [sys.executable, "-c", CONCURRENT_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failures []" in proc.stdout
    if layer != "default":
        assert proc.stdout.startswith(layer)


def test_set_num_threads_applies_and_validates():
    before = fl.get_num_threads()
    try:
        fl.set_num_threads(1)
        assert fl.get_num_threads() == 1 == numba.get_num_threads()
    finally:
        fl.set_num_threads(before)
    with pytest.raises(ValueError, match="set_num_threads: expected 1 to"):
        fl.set_num_threads(0)
    with pytest.raises(ValueError, match="set_num_threads"):
        fl.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)
    with pytest.raises(TypeError, match="set_num_threads: expected an int"):
        fl.set_num_threads(1.5)


def test_results_do_not_depend_on_thread_count():
    import numpy as np

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 2, 9, 9))
    conv = fl.ConvolutionalLayer((1, 1), (2, 3, 3), 3, 0.0)
    before = fl.get_num_threads()
    outputs = []
    try:
        for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            fl.set_num_threads(n)
            y = conv.forward(x)
            outputs.append((y, conv.backward(np.cos(y)), conv.get_gradient_weights().copy()))
    finally:
        fl.set_num_threads(before)
    for y, e, g in outputs[1:]:
        # Each output element is summed by one thread in a fixed order, so
        # the results are bitwise identical whatever the thread count.
        assert np.array_equal(y, outputs[0][0])
        assert np.array_equal(e, outputs[0][1])
        assert np.array_equal(g, outputs[0][2])
