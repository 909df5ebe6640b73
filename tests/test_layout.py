"""The batch-innermost layout that convolution, ReLU and max pooling hand on.

Their outputs are NCHW-shaped views of (c, h, w, b) arrays, so the next of
these functions reads them without converting.  Whatever layout an input
comes in, the values must be those of the same call on a C-contiguous
copy, bit for bit (the kernels are the same, only the copies differ), and
the layout must be kept where the documentation promises it.
"""

import numpy as np
import pytest

import fastlayers as fl
from fastlayers import functional as F
from fastlayers import kernels
from fastlayers.functional._layout import batch_innermost

from . import naive
from .helpers import DTYPES, with_layout


def is_batch_innermost(a):
    return a.ndim == 4 and a.transpose(1, 2, 3, 0).flags.c_contiguous


def contiguous(a):
    return np.ascontiguousarray(a)


def pair(v):
    return (v, v) if isinstance(v, int) else v


def data(shape, dtype, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_with_layout_makes_the_layers_layout():
    x = data((3, 2, 4, 5), np.float64, 0)
    view = with_layout(x, "batch_innermost")
    assert is_batch_innermost(view) and not view.flags.c_contiguous
    assert batch_innermost(view, view.dtype) is not None
    assert batch_innermost(view, np.float32) is None  # another dtype: converted
    assert batch_innermost(with_layout(x, "readonly_batch_innermost"), x.dtype) is None
    assert batch_innermost(with_layout(x, "transposed"), x.dtype) is None


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "stride, padding", [(1, "same"), (1, "valid"), (2, "same"), ((1, 2), (1, 0, 2, 1))]
)
@pytest.mark.parametrize("batch", [1, 3])
def test_conv2d_any_layout_same_bits(dtype, stride, padding, batch):
    x = data((batch, 3, 7, 6), dtype, 1)
    w = data((4, 3, 3, 2), dtype, 2)
    bias = data((4,), dtype, 3)
    y, saved = F.conv2d(x, w, bias, stride, padding, return_saved=True)
    assert is_batch_innermost(y)
    error = data(y.shape, dtype, 4)
    dx, dw, db = F.conv2d_backward(error, saved)
    assert is_batch_innermost(dx)
    for layout in ("batch_innermost", "readonly_batch_innermost", "transposed"):
        y2, saved2 = F.conv2d(with_layout(x, layout), w, bias, stride, padding, return_saved=True)
        np.testing.assert_array_equal(y2, y)
        dx2, dw2, db2 = F.conv2d_backward(with_layout(error, layout), saved2)
        np.testing.assert_array_equal(dx2, dx)
        np.testing.assert_array_equal(dw2, dw)
        np.testing.assert_array_equal(db2, db)
    # Against the oracle, so that "the same bits" is not the same wrong bits.
    pads = F.resolve_padding(padding, (3, 2), "test")
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    xp = naive.pad(x.astype(np.float64), *pads)
    expected = naive.conv_forward(xp, w.astype(np.float64), bias.astype(np.float64), sy, sx)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_conv2d_out_is_written_in_nchw(dtype):
    x = with_layout(data((3, 2, 5, 5), dtype, 5), "batch_innermost")
    w = data((2, 2, 3, 3), dtype, 6)
    out = np.full((3, 2, 5, 5), np.nan, dtype)
    y = F.conv2d(x, w, out=out)
    assert y is out and out.flags.c_contiguous
    np.testing.assert_array_equal(out, F.conv2d(contiguous(x), w))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "window, stride", [(2, 2), (3, 2), ((2, 3), (1, 2)), (3, 3), ((2, 2), (3, 4)), ((1, 3), None)]
)
@pytest.mark.parametrize("batch", [1, 5])
def test_max_pool_any_layout_same_bits(dtype, window, stride, batch):
    x = data((batch, 3, 8, 7), dtype, 7)
    x[0, 0, :3, :3] = 1.0  # ties
    x[-1, 2, 4, 4] = np.nan
    y_ref, idx_ref = F.max_pool2d(contiguous(x), window, stride)
    y, idx = F.max_pool2d(with_layout(x, "batch_innermost"), window, stride)
    assert is_batch_innermost(y) and is_batch_innermost(idx)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    expected_y, expected_idx = naive.maxpool(x, *pair(window), *pair(stride or window))
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(idx, expected_idx)
    error = data(y.shape, dtype, 8)
    dx_ref = F.max_pool2d_backward(error, idx_ref, x.shape)
    for err_layout in ("batch_innermost", "contiguous", "sliced"):
        dx = F.max_pool2d_backward(with_layout(error, err_layout), idx, x.shape)
        assert is_batch_innermost(dx)
        np.testing.assert_array_equal(dx, dx_ref)
    expected_dx = naive.maxpool_backward(error.astype(np.float64), idx_ref, x.shape)
    np.testing.assert_allclose(dx_ref, expected_dx, rtol=1e-10 if dtype == np.float64 else 1e-6)
    # The window and stride, given or not, change nothing.
    dx_tiled = F.max_pool2d_backward(error, idx, x.shape, window=window, stride=stride)
    np.testing.assert_array_equal(dx_tiled, dx_ref)
    for ties in ("all", "split"):
        kw = dict(ties=ties, x=x, window=window, stride=stride)
        np.testing.assert_array_equal(
            F.max_pool2d_backward(error, idx, x.shape, **kw),
            F.max_pool2d_backward(error, idx_ref, x.shape, **kw),
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_max_pool_backward_with_foreign_indices(dtype):
    """Indices inside the plane but outside their own window (not from
    max_pool2d with this window) route the error where they point."""
    x = data((3, 2, 6, 6), dtype, 15)
    _, idx = F.max_pool2d(with_layout(x, "batch_innermost"), 2)
    foreign = idx.copy()  # C-contiguous: give it the layout of max_pool2d's indices
    foreign = with_layout(foreign, "batch_innermost")
    foreign[0, 0, 0, 0] = 35  # the last element of the plane
    foreign[2, 1, 1, 2] = 0
    error = data(idx.shape, dtype, 16)
    expected = naive.maxpool_backward(error.astype(np.float64), foreign, x.shape)
    for kw in ({}, dict(window=2), dict(window=2, stride=2)):
        dx = F.max_pool2d_backward(error, foreign, x.shape, **kw)
        np.testing.assert_array_equal(dx, expected.astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_max_pool_out_is_written_in_nchw(dtype):
    x = with_layout(data((4, 2, 6, 6), dtype, 9), "batch_innermost")
    out = np.full((4, 2, 3, 3), np.nan, dtype)
    y, idx = F.max_pool2d(x, 2, out=out)
    assert y is out and out.flags.c_contiguous
    np.testing.assert_array_equal(out, F.max_pool2d(contiguous(x), 2)[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("size", [(3, 2, 4, 5), (64, 6, 24, 24)])  # serial and parallel kernels
def test_relu_keeps_the_layout(dtype, size):
    x = with_layout(data(size, dtype, 10), "batch_innermost")
    x.flat[::7] = np.nan
    y = F.relu(x)
    assert is_batch_innermost(y)
    np.testing.assert_array_equal(y, F.relu(contiguous(x)))
    error = with_layout(data(size, dtype, 11), "batch_innermost")
    mask = np.greater(y, 0)
    assert is_batch_innermost(mask)
    for given in (x, contiguous(x)):
        y2, mask2 = F.relu(given, return_mask=True)
        np.testing.assert_array_equal(y2, y)
        np.testing.assert_array_equal(mask2, mask)
        assert mask2.dtype == np.bool_
        assert is_batch_innermost(mask2) == is_batch_innermost(given)
    dx = F.relu_backward(error, mask)
    assert is_batch_innermost(dx)
    np.testing.assert_array_equal(dx, F.relu_backward(contiguous(error), contiguous(mask)))
    # Mixed layouts are converted, not misread.
    np.testing.assert_array_equal(F.relu_backward(contiguous(error), mask), dx)
    np.testing.assert_array_equal(F.relu_backward(error, contiguous(mask)), dx)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_pad_chwb_kernel(dtype):
    src = data((2, 3, 4, 5), dtype, 12)
    out = np.full((2, 3 + 3, 4 + 1, 5), np.nan, dtype)
    kernels.pad_chwb(src, 1, 0, out)
    expected = np.moveaxis(naive.pad(np.moveaxis(src, -1, 0), 1, 2, 0, 1), 0, -1)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_lenet_chain_equals_contiguous_chain(dtype):
    """conv -> ReLU -> pool -> conv -> ReLU -> pool -> flatten, forward and back,
    once as the layers hand arrays on and once with every array made
    C-contiguous in between: the same bits everywhere."""

    def build():
        return [
            fl.ConvolutionalLayer((1, 1), (1, 5, 5), 6, 0.0, dtype=dtype),
            fl.ReLU(),
            fl.MaxPoolLayer(),
            fl.ConvolutionalLayer((1, 1), (6, 5, 5), 10, 0.0, dtype=dtype),
            fl.ReLU(),
            fl.MaxPoolLayer(),
            fl.FlattenLayer(),
        ]

    np.random.seed(0)
    chained = build()
    np.random.seed(0)
    copied = build()
    x = data((4, 1, 28, 28), dtype, 13)
    a, b = x, x
    for la, lb in zip(chained, copied):
        a, b = la.forward(a), contiguous(lb.forward(b))
        np.testing.assert_array_equal(a, b)
    e = data(a.shape, dtype, 14)
    ea, eb = e, e
    for la, lb in zip(reversed(chained), reversed(copied)):
        ea, eb = la.backward(ea), contiguous(lb.backward(eb))
        np.testing.assert_array_equal(ea, eb)
    for la, lb in zip(chained, copied):
        if hasattr(la, "gradient_weights"):
            np.testing.assert_array_equal(la.gradient_weights, lb.gradient_weights)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_large_arrays_start_on_a_cache_line(dtype):
    from fastlayers.functional._layout import ALIGN_FROM_BYTES, empty

    for shape in [(6, 32, 32, 64), (3, 5, 7, 400), (1,)]:
        a = empty(shape, dtype)
        assert a.shape == shape and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
        if a.nbytes >= ALIGN_FROM_BYTES:
            assert a.ctypes.data % 64 == 0
