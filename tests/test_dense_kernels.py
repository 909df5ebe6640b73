"""The matrix product kernels of the fully connected layer against NumPy.

The kernels compute four output rows (and, in ``matmul_nt``, four output
columns) at a time and step through the inner dimension four at a time,
so the shapes below leave every remainder from 0 to 3 in each of them.
Outputs are pre-filled with NaN: an entry left unwritten fails.
"""

import numba
import numpy as np
import pytest

import fastlayers
from fastlayers import kernels

from .helpers import DTYPES, assert_close, nan_array

SIZES = (1, 3, 5, 17, 64, 400)
# (rows, inner, cols): every size in each position, next to small and odd
# partners, plus the shapes of the LeNet and CIFAR classifiers.
SHAPES = sorted(
    {(n, 5, 3) for n in SIZES}
    | {(3, n, 5) for n in SIZES}
    | {(5, 3, n) for n in SIZES}
    | {(17, 17, 17), (1, 1, 1), (2, 6, 7), (7, 2, 6), (6, 7, 2), (64, 400, 17), (17, 64, 400)}
    | {(64, 490, 120), (64, 120, 84), (64, 84, 10), (1, 490, 120), (64, 1024, 128)}
)


def reference(a, b):
    """``a @ b`` computed by NumPy in float64."""
    return a.astype(np.float64) @ b.astype(np.float64)


def operands(rng, shape_a, shape_b, dtype):
    return (
        rng.standard_normal(shape_a).astype(dtype),
        rng.standard_normal(shape_b).astype(dtype),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, inner, cols", SHAPES)
def test_matmul(rows, inner, cols, dtype, rng):
    a, b = operands(rng, (rows, inner), (inner, cols), dtype)
    out = nan_array((rows, cols), dtype)
    kernels.matmul(a, b, False, out)
    assert_close(out, reference(a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, inner, cols", SHAPES)
def test_matmul_transposed(rows, inner, cols, dtype, rng):
    a, b = operands(rng, (inner, rows), (inner, cols), dtype)
    out = nan_array((rows, cols), dtype)
    kernels.matmul(a, b, True, out)
    assert_close(out, reference(a.T, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, inner, cols", SHAPES)
def test_matmul_nt(rows, inner, cols, dtype, rng):
    a, b = operands(rng, (rows, inner), (cols, inner), dtype)
    out = nan_array((rows, cols), dtype)
    kernels.matmul_nt(a, b, out)
    assert_close(out, reference(a, b.T), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_overwrite_the_output(dtype, rng):
    # The output's old contents must not leak into the sums.
    a, b = operands(rng, (6, 5), (5, 7), dtype)
    for call, expected in [
        (lambda out: kernels.matmul(a, b, False, out), reference(a, b)),
        (lambda out: kernels.matmul(a.T.copy(), b, True, out), reference(a, b)),
        (lambda out: kernels.matmul_nt(a, b.T.copy(), out), reference(a, b)),
    ]:
        out = np.full((6, 7), 1e6, dtype)
        call(out)
        assert_close(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_do_not_depend_on_thread_count(dtype, rng):
    # Every entry is summed by one thread in a fixed order: bitwise equal
    # results whatever the number of threads.
    a, b = operands(rng, (67, 131), (131, 45), dtype)
    e = rng.standard_normal((67, 45)).astype(dtype)

    def products():
        out = (np.empty((67, 45), dtype), np.empty((131, 45), dtype), np.empty((67, 131), dtype))
        kernels.matmul(a, b, False, out[0])
        kernels.matmul(a, e, True, out[1])
        kernels.matmul_nt(e, b, out[2])
        return out

    before = fastlayers.get_num_threads()
    results = []
    try:
        for n in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            fastlayers.set_num_threads(n)
            results.append(products())
    finally:
        fastlayers.set_num_threads(before)
    for result in results[1:]:
        for got, first in zip(result, results[0]):
            assert np.array_equal(got, first)


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_propagate_nan_and_infinity(dtype, rng):
    a, b = operands(rng, (5, 9), (9, 6), dtype)
    a[2, 4] = np.nan
    b[3, 1] = np.inf
    out = np.empty((5, 6), dtype)
    kernels.matmul(a, b, False, out)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    assert np.array_equal(np.isnan(out), np.isnan(expected))
    assert np.array_equal(np.isinf(out), np.isinf(expected))
