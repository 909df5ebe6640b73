"""Freed memory is kept for reuse: a steady training step touches no new pages."""

import os
import subprocess
import sys
import textwrap

import pytest

from fastlayers.memory import retain_freed_memory

STEPS = textwrap.dedent(
    """
    import resource
    import numpy as np
    import fastlayers
    from fastlayers.models import lenet

    fastlayers.set_num_threads(1)
    net = lenet(dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 28, 28))
    y = np.eye(10)[rng.integers(0, 10, 32)]

    def step():
        a = x
        for layer in net.layers:
            a = layer.forward(a)
        net.loss_layer.forward(a, y)
        e = net.loss_layer.backward(y)
        for layer in reversed(net.layers):
            e = layer.backward(e)

    for _ in range(10):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
    """
)


def faults_per_step(retain):
    env = dict(os.environ, FASTLAYERS_RETAIN_MEMORY="1" if retain else "0")
    result = subprocess.run(
        [sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return float(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_steady_steps_touch_no_new_pages():
    if not retain_freed_memory():
        pytest.skip("the C library is not glibc")
    # Without the setting the same loop faults hundreds of times per step,
    # which shows the counter sees what the setting removes.
    assert faults_per_step(retain=False) > 100
    # What remains is Python's own small-object arenas coming and going
    # (a handful of pages per step, more on a loaded machine), not arrays.
    assert faults_per_step(retain=True) < 16


@pytest.mark.parametrize("bad", [0, -5, 2**31, 1.5, True, "32"])
def test_thresholds_are_checked(bad):
    with pytest.raises(ValueError, match="retain_freed_memory: expected mmap_threshold"):
        retain_freed_memory(mmap_threshold=bad)
