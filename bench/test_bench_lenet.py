"""LeNet training-step benchmarks: forward, backward and SGD update per backend.

Every backend starts from the same parameters and batch
(:mod:`bench.lenet`); before timing, each case checks that its first two
losses (the second one after an update) agree with an independent backend
in float64: the fastlayers network against the NumPy im2col one, every
other backend against fastlayers.
"""

import functools
import math

import numpy as np

from . import backends as B
from .cases import lenet_cases
from .harness import TOLERANCE, annotate, budget, measure

CASES = lenet_cases


@functools.lru_cache(maxsize=16)
def _oracle_losses(backend, batch):
    return B.lenet_losses(backend, batch, "float64", steps=2)


def test_lenet_step(benchmark, case, usable, mode):
    net = B.make_lenet(case.backend, case.batch, case.dtype)
    annotate(benchmark, case)
    with B.threads(case.backend, case.threads):
        losses = [net.loss_value(net.step()) for _ in range(2)]
        oracle = _oracle_losses("im2col" if case.backend == "fastlayers" else "fastlayers", case.batch)
        np.testing.assert_allclose(losses, oracle, rtol=TOLERANCE[case.dtype], err_msg=case.id)
        assert losses[1] != losses[0], "the first step changed no parameter"
        last = measure(benchmark, net.step, budget(mode))
    assert math.isfinite(net.loss_value(last))
