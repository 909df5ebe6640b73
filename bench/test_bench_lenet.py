"""Network benchmarks: training steps (forward, backward, SGD update) and batch-1 inference.

Every backend starts from the same parameters and batch
(:mod:`bench.networks`; LeNet is :func:`fastlayers.models.lenet`).  Before
timing, each training case checks that its first two losses (the second
one after an update) agree with an independent backend in float64: the
fastlayers networks against the NumPy im2col ones (the reference layers'
3-D ``correlate`` takes seconds per CIFAR step), every other backend
against fastlayers.  Inference cases check the class probabilities the same way.
"""

import functools
import math

import numpy as np

from . import backends as B
from .cases import lenet_cases
from .harness import TOLERANCE, annotate, budget, measure

CASES = lenet_cases


def _oracle(case):
    return "im2col" if case.backend == "fastlayers" else "fastlayers"


@functools.lru_cache(maxsize=16)
def _oracle_losses(backend, net, batch):
    return B.net_losses(backend, net, batch, "float64", steps=2)


@functools.lru_cache(maxsize=4)
def _oracle_probabilities(backend, net, batch):
    return B.make_net(backend, net, batch, "float64").infer()


def test_network(benchmark, case, usable, mode):
    net = B.make_net(case.backend, case.layer, case.batch, case.dtype)
    annotate(benchmark, case)
    with B.threads(case.backend, case.threads):
        if case.op == "infer":
            # probabilities: fastlayers against the reference layers, the others against fastlayers
            oracle_backend = "reference" if case.backend == "fastlayers" else "fastlayers"
            expected = _oracle_probabilities(oracle_backend, case.layer, case.batch)
            got = B._to_numpy(net.infer())
            np.testing.assert_allclose(
                got,
                expected,
                rtol=TOLERANCE[case.dtype],
                atol=TOLERANCE[case.dtype],
                err_msg=case.id,
            )
            last = measure(benchmark, net.infer, budget(mode))
            assert np.all(np.isfinite(B._to_numpy(last)))
            return
        losses = [net.loss_value(net.step()) for _ in range(2)]
        oracle = _oracle_losses(_oracle(case), case.layer, case.batch)
        np.testing.assert_allclose(losses, oracle, rtol=TOLERANCE[case.dtype], err_msg=case.id)
        assert losses[1] != losses[0], "the first step changed no parameter"
        last = measure(benchmark, net.step, budget(mode))
    assert math.isfinite(net.loss_value(last))
