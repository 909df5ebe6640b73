"""The one-thread kernels that small work runs on.

Every parallel kernel has a twin compiled without the thread pool
(``kernel.serial``), and one image at stride 1 has a convolution of its
own; each must give the bits of the kernel it stands in for.
"""

import numpy as np
import pytest

from fastlayers import kernels, parallel

from .helpers import DTYPES


def parallel_kernels():
    for name in kernels.__all__:
        k = getattr(kernels, name)
        if getattr(k, "targetoptions", {}).get("parallel"):
            yield name, k


def test_every_parallel_kernel_has_a_serial_twin():
    names = [name for name, _ in parallel_kernels()]
    assert "conv2d_forward" in names and "matmul" in names
    for name, k in parallel_kernels():
        twin = k.serial
        assert not twin.targetoptions.get("parallel"), name
        # numba's disk cache tells compiled functions apart by qualified name.
        assert twin.py_func.__qualname__ != k.py_func.__qualname__, name
        assert twin.py_func.__code__ is k.py_func.__code__, name


def rand(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_twins_give_the_same_bits(dtype):
    xp = rand((3, 9, 8, 5), dtype, 0)
    w = rand((5, 3, 3, 2), dtype, 1)
    bias = rand((5,), dtype, 2)
    a, b = rand((7, 13), dtype, 3), rand((13, 6), dtype, 4)
    calls = [
        (kernels.conv2d_forward, (xp, w, bias, 2, 1), (5, 4, 7, 5)),
        (kernels.matmul, (a, b, False), (7, 6)),
        (kernels.matmul_nt, (a, b.T.copy()), (7, 6)),
        (kernels.matmul, (a.T.copy(), b, True), (7, 6)),
        (kernels.pad_chwb, (xp, 1, 2), (3, 12, 11, 5)),
        (kernels.relu_forward_parallel, (xp.reshape(-1),), (xp.size,)),
    ]
    for k, args, out_shape in calls:
        out_parallel = np.full(out_shape, np.nan, dtype)
        out_serial = np.full(out_shape, np.nan, dtype)
        k(*args, out_parallel)
        parallel.launch(k, True, *args, out_serial)
        np.testing.assert_array_equal(out_serial, out_parallel, err_msg=k.py_func.__name__)
        assert not np.isnan(out_serial).any()
    shape = (3, 4, 4, 5)
    y1, y2 = np.empty(shape, dtype), np.empty(shape, dtype)
    i1, i2 = np.empty(shape, np.intp), np.empty(shape, np.intp)
    kernels.maxpool2d_forward_chwb(xp, 2, 2, 2, 2, y1, i1)
    kernels.maxpool2d_forward_chwb.serial(xp, 2, 2, 2, 2, y2, i2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(i1, i2)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "c, k, hp, wp, m, n",
    [(1, 6, 32, 32, 5, 5), (6, 10, 18, 18, 5, 5), (3, 7, 9, 11, 3, 2), (2, 1, 4, 4, 4, 4)],
)
def test_single_image_convolution_gives_the_same_bits(dtype, c, k, hp, wp, m, n):
    xp = rand((c, hp, wp, 1), dtype, 5)
    w = rand((k, c, m, n), dtype, 6)
    bias = rand((k,), dtype, 7)
    shape = (k, hp - m + 1, wp - n + 1, 1)
    expected, got = np.full(shape, np.nan, dtype), np.full(shape, np.nan, dtype)
    kernels.conv2d_forward(xp, w, bias, 1, 1, expected)
    kernels.conv2d_forward_single(xp, w, bias, got)
    np.testing.assert_array_equal(got, expected)
