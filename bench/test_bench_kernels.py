"""Kernel benchmarks: convolution, max pooling and strided upsampling per backend.

Each case times one operation of one backend on one shape, dtype and thread
count (see :mod:`bench.cases` for the sets), and checks its result: the
fastlayers backends against the NumPy im2col functions, every other
backend against the fastlayers layers, on the same input in float64.
"""

import functools

import numpy as np

from . import backends as B
from .cases import kernel_cases
from .harness import annotate, assert_close, budget, measure

CASES = kernel_cases


def _oracle(case):
    return "im2col" if case.backend.startswith("fastlayers") else "fastlayers"


@functools.lru_cache(maxsize=16)
def _conv_setup(layer, batch, dtype):
    spec = B.conv_spec(layer, batch)
    return spec, B.conv_data(spec, B.DTYPES[dtype])


@functools.lru_cache(maxsize=64)
def _conv_expected(layer, batch, dtype, op, oracle):
    spec, data = _conv_setup(layer, batch, dtype)
    return B.conv_expected(spec, data, op, oracle)


def _timed(benchmark, case, mode, adapters, spec, data, **extra):
    """Time the case's operation of its backend on ``data``; return the result, canonical."""
    adapter = adapters[case.backend](spec, data)
    fn = adapter.op(case.op)
    annotate(benchmark, case, label=spec.label, **extra)
    with B.threads(case.backend, case.threads):
        raw = measure(benchmark, fn, budget(mode))
    return adapter.canonical(case.op, raw)


def _run_conv(benchmark, case, mode):
    spec, data = _conv_setup(case.layer, case.batch, case.dtype)
    got = _timed(benchmark, case, mode, B.CONV_ADAPTERS, spec, data, macs=spec.macs)
    expected = _conv_expected(case.layer, case.batch, case.dtype, case.op, _oracle(case))
    assert_close(got, expected, case.dtype, case.id)


def _run_pool(benchmark, case, mode):
    spec = B.pool_spec(case.layer, case.batch)
    data = B.pool_data(spec, B.DTYPES[case.dtype])
    got = _timed(benchmark, case, mode, B.POOL_ADAPTERS, spec, data)
    expected = B.pool_expected(spec, data, case.op, _oracle(case))
    assert_close(got, expected, case.dtype, case.id)


def _run_upsample(benchmark, case, mode):
    spec = B.upsample_spec(case.layer, case.batch)
    data = B.upsample_data(spec, B.DTYPES[case.dtype])
    got = _timed(benchmark, case, mode, B.UPSAMPLE_ADAPTERS, spec, data)
    assert_close(got, B.upsample_expected(spec, data), case.dtype, case.id)
    # The zeros really are zeros.
    s = spec.stride
    mask = np.ones(spec.out_shape, bool)
    mask[:, :, ::s, ::s] = False
    assert not np.any(got[0][mask])


RUNNERS = {"conv": _run_conv, "pool": _run_pool, "upsample": _run_upsample}


def test_kernel(benchmark, case, usable, mode):
    RUNNERS[case.suite](benchmark, case, mode)
