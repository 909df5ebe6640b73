"""The compiled kernels of ``fastlayers.kernels`` against brute-force NumPy loops.

Outputs are pre-filled with NaN so that a kernel which leaves any element
unwritten (the contract is "written in full") fails the comparison.
"""

import numba
import numpy as np
import pytest

import fastlayers
from fastlayers import kernels

from . import naive
from .helpers import DTYPES, assert_close, nan_array

# ---------------------------------------------------------------------------
# Layout conversion
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 2, 0, 3), (2, 2, 2, 2)])
def test_nchw_to_chwb_pads_and_transposes(dtype, pads, rng):
    top, bottom, left, right = pads
    x = rng.standard_normal((3, 2, 4, 5)).astype(dtype)
    out = nan_array((2, 4 + top + bottom, 5 + left + right, 3), dtype)
    kernels.nchw_to_chwb(x, top, left, out)
    expected = naive.pad(x, top, bottom, left, right).transpose(1, 2, 3, 0)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_chwb_to_nchw_round_trip(dtype, rng):
    x = rng.standard_normal((3, 2, 4, 5)).astype(dtype)
    chwb = nan_array((2, 4, 5, 3), dtype)
    kernels.nchw_to_chwb(x, 0, 0, chwb)
    back = nan_array(x.shape, dtype)
    kernels.chwb_to_nchw(chwb, back)
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(chwb, x.transpose(1, 2, 3, 0))


# ---------------------------------------------------------------------------
# Convolution in the CHWB layout
# ---------------------------------------------------------------------------

CONV_CASES = [
    # batch, channels, h, w, kernels, m, n, stride (sy, sx), pads (t, b, l, r)
    (2, 3, 7, 8, 4, 3, 3, (1, 1), (1, 1, 1, 1)),  # kernels exactly one block of 4
    (3, 2, 6, 9, 5, 4, 2, (2, 3), (2, 1, 0, 1)),  # a block of 4 plus a remainder
    (1, 1, 5, 5, 3, 5, 5, (1, 1), (0, 0, 0, 0)),  # remainder only, 1x1 output
    (2, 2, 9, 7, 6, 3, 4, (3, 2), (1, 1, 2, 1)),
    (4, 3, 6, 6, 2, 1, 1, (2, 2), (0, 0, 0, 0)),  # 1x1 kernel
]


def to_chwb(x, pads=(0, 0, 0, 0)):
    """Pad and convert an NCHW array with the library kernel (tested above)."""
    top, bottom, left, right = pads
    b, c, h, w = x.shape
    out = nan_array((c, h + top + bottom, w + left + right, b), x.dtype)
    kernels.nchw_to_chwb(x, top, left, out)
    return out


def from_chwb(x):
    """Convert a CHWB array back to NCHW."""
    c, h, w, b = x.shape
    out = nan_array((b, c, h, w), x.dtype)
    kernels.chwb_to_nchw(x, out)
    return out


def conv_data(case, dtype, rng):
    b, c, h, w, k, m, n, (sy, sx), pads = case
    x = rng.standard_normal((b, c, h, w)).astype(dtype)
    weights = rng.standard_normal((k, c, m, n)).astype(dtype)
    bias = rng.standard_normal(k).astype(dtype)
    xp = naive.pad(x, *pads)
    oh = (xp.shape[2] - m) // sy + 1
    ow = (xp.shape[3] - n) // sx + 1
    return x, xp, weights, bias, (b, k, oh, ow)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward(case, dtype, rng):
    x, xp, weights, bias, out_shape = conv_data(case, dtype, rng)
    sy, sx = case[7]
    b, k, oh, ow = out_shape
    out = nan_array((k, oh, ow, b), dtype)
    kernels.conv2d_forward(to_chwb(x, case[8]), weights, bias, sy, sx, out)
    expected = naive.conv_forward(xp.astype(np.float64), weights, bias, sy, sx)
    assert_close(from_chwb(out), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_grad_input(case, dtype, rng):
    x, xp, weights, _, out_shape = conv_data(case, dtype, rng)
    sy, sx = case[7]
    top, _, left, _ = case[8]
    err = rng.standard_normal(out_shape).astype(dtype)
    dx = nan_array(x.shape[1:] + x.shape[:1], dtype)
    kernels.conv2d_grad_input(to_chwb(err), weights, sy, sx, top, left, dx)
    expected = naive.conv_grad_input(
        err.astype(np.float64), weights, sy, sx, xp.shape[2:], top, left, x.shape[2:]
    )
    assert_close(from_chwb(dx), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_grad_weights(case, dtype, rng):
    x, xp, weights, _, out_shape = conv_data(case, dtype, rng)
    sy, sx = case[7]
    err = rng.standard_normal(out_shape).astype(dtype)
    grad_w = nan_array(weights.shape, dtype)
    grad_b = nan_array(weights.shape[:1], dtype)
    kernels.conv2d_grad_weights(to_chwb(x, case[8]), to_chwb(err), sy, sx, grad_w, grad_b)
    m, n = weights.shape[2:]
    expected_w, expected_b = naive.conv_grad_weights(xp.astype(np.float64), err, sy, sx, m, n)
    assert_close(grad_w, expected_w, dtype)
    assert_close(grad_b, expected_b, dtype)


# Shapes for the unit-column-stride paths (whole output rows as one run;
# the 4-kernel by 4-tap blocks of the weight gradient): kernel and tap
# counts that leave short last groups, row strides above 1 and batch sizes
# that are not a multiple of any vector width.
UNIT_STRIDE_X_CASES = [
    # batch, channels, h, w, kernels, m, n, stride (sy, sx), pads (t, b, l, r)
    (17, 1, 9, 9, 6, 5, 5, (1, 1), (2, 2, 2, 2)),  # 25 taps, kernels 4 + 2
    (5, 6, 7, 6, 10, 5, 5, (1, 1), (2, 2, 2, 2)),  # 150 taps, kernels 4 + 4 + 2
    (3, 2, 8, 7, 1, 3, 2, (2, 1), (1, 0, 1, 0)),  # one kernel, 12 taps, sy = 2
    (1, 3, 5, 4, 5, 2, 3, (3, 1), (0, 1, 1, 1)),  # batch 1, kernels 4 + 1
    (33, 2, 4, 4, 4, 1, 1, (1, 1), (0, 0, 0, 0)),  # 1x1 kernel, 2 taps
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNIT_STRIDE_X_CASES)
def test_conv2d_unit_stride_x_paths(case, dtype, threads, rng):
    x, xp, weights, bias, out_shape = conv_data(case, dtype, rng)
    sy, sx = case[7]
    b, k, oh, ow = out_shape
    m, n = weights.shape[2:]
    err = rng.standard_normal(out_shape).astype(dtype)
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        out = nan_array((k, oh, ow, b), dtype)
        kernels.conv2d_forward(to_chwb(x, case[8]), weights, bias, sy, sx, out)
        grad_w = nan_array(weights.shape, dtype)
        grad_b = nan_array(weights.shape[:1], dtype)
        kernels.conv2d_grad_weights(to_chwb(x, case[8]), to_chwb(err), sy, sx, grad_w, grad_b)
    finally:
        fastlayers.set_num_threads(before)
    expected = naive.conv_forward(xp.astype(np.float64), weights, bias, sy, sx)
    assert_close(from_chwb(out), expected, dtype)
    expected_w, expected_b = naive.conv_grad_weights(xp.astype(np.float64), err, sy, sx, m, n)
    assert_close(grad_w, expected_w, dtype)
    assert_close(grad_b, expected_b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_results_do_not_depend_on_thread_count(dtype, rng):
    case = UNIT_STRIDE_X_CASES[1]
    x, _, weights, bias, (b, k, oh, ow) = conv_data(case, dtype, rng)
    xp = to_chwb(x, case[8])
    err = to_chwb(rng.standard_normal((b, k, oh, ow)).astype(dtype))
    results = []
    before = fastlayers.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            fastlayers.set_num_threads(threads)
            out = nan_array((k, oh, ow, b), dtype)
            kernels.conv2d_forward(xp, weights, bias, 1, 1, out)
            grad_w = nan_array(weights.shape, dtype)
            grad_b = nan_array((k,), dtype)
            kernels.conv2d_grad_weights(xp, err, 1, 1, grad_w, grad_b)
            results.append((out, grad_w, grad_b))
    finally:
        fastlayers.set_num_threads(before)
    for got in results[1:]:
        for a, e in zip(got, results[0]):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_forward_is_linear_in_the_input(dtype, rng):
    # <conv(x), e> == <x, conv_grad_input(e)> (with zero bias): the two
    # kernels are adjoint, checked without any reference implementation.
    b, c, h, w, k, m, n, (sy, sx), pads = CONV_CASES[1]
    x = rng.standard_normal((b, c, h, w)).astype(dtype)
    weights = rng.standard_normal((k, c, m, n)).astype(dtype)
    xp = to_chwb(x, pads)
    oh, ow = (xp.shape[1] - m) // sy + 1, (xp.shape[2] - n) // sx + 1
    out = nan_array((k, oh, ow, b), dtype)
    kernels.conv2d_forward(xp, weights, np.zeros(k, dtype), sy, sx, out)
    err = rng.standard_normal(out.shape).astype(dtype)
    dx = nan_array((c, h, w, b), dtype)
    kernels.conv2d_grad_input(err, weights, sy, sx, pads[0], pads[2], dx)
    lhs = np.sum(out.astype(np.float64) * err)
    rhs = np.sum(to_chwb(x).astype(np.float64) * dx)
    assert_close(lhs, rhs, dtype)


# ---------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------

POOL_CASES = [
    # window (ph, pw), stride (sy, sx)
    ((2, 2), (2, 2)),
    ((2, 2), (1, 1)),  # overlapping
    ((3, 2), (2, 1)),  # overlapping in x only
    ((2, 3), (3, 2)),  # gaps between windows
    ((1, 1), (1, 1)),
    ((5, 6), (1, 1)),  # one window covering the whole plane
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window, stride", POOL_CASES)
def test_maxpool_forward_with_ties(window, stride, dtype, rng):
    # Few distinct values: most windows hold several equal maxima, and the
    # first in row-major order must win.
    x = rng.integers(0, 3, (2, 3, 5, 6)).astype(dtype)
    expected, expected_where = naive.maxpool(x, *window, *stride)
    out = nan_array(expected.shape, dtype)
    where = np.full(expected.shape, -1, dtype=np.intp)
    kernels.maxpool2d_forward(x, *window, *stride, out, where)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(where, expected_where)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 31, 32, 45, 70])
@pytest.mark.parametrize("window, stride", [((2, 2), (2, 2)), ((3, 2), (2, 1))])
def test_maxpool_forward_batch_groups(window, stride, batch, threads, rng):
    # The forward kernel pools groups of up to 32 images at a time: batch
    # sizes below, at and across group boundaries, on 1 and 2 threads.
    x = rng.integers(0, 4, (batch, 3, 6, 7)).astype(np.float32)
    x[batch // 2, 1, 2, 3] = np.nan
    expected, expected_where = naive.maxpool(x, *window, *stride)
    out = nan_array(expected.shape, np.float32)
    where = np.full(expected.shape, -1, dtype=np.intp)
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        kernels.maxpool2d_forward(x, *window, *stride, out, where)
    finally:
        fastlayers.set_num_threads(before)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(where, expected_where)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_forward_negative_values(dtype, rng):
    x = -rng.random((2, 2, 4, 6)).astype(dtype) - 1
    expected, expected_where = naive.maxpool(x, 2, 3, 2, 3)
    out = nan_array(expected.shape, dtype)
    where = np.full(expected.shape, -1, dtype=np.intp)
    kernels.maxpool2d_forward(x, 2, 3, 2, 3, out, where)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(where, expected_where)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_forward_nan_propagates(dtype, rng):
    x = rng.random((1, 2, 4, 4)).astype(dtype)
    x[0, 0, 0, 0] = np.nan  # first element of a window
    x[0, 0, 1, 3] = np.nan  # last element of another
    x[0, 1, 2, 2] = np.nan  # in two overlapping windows
    x[0, 1, 3, 3] = np.nan  # the second NaN of the same window
    for window, stride in [((2, 2), (2, 2)), ((2, 2), (1, 1))]:
        expected, expected_where = naive.maxpool(x, *window, *stride)
        out = np.zeros(expected.shape, dtype)
        where = np.full(expected.shape, -1, dtype=np.intp)
        kernels.maxpool2d_forward(x, *window, *stride, out, where)
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
        assert np.isnan(out).any()
        np.testing.assert_array_equal(out[~np.isnan(out)], expected[~np.isnan(expected)])
        # np.argmax points at the first NaN of a window.
        np.testing.assert_array_equal(where, expected_where)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window, stride", POOL_CASES)
def test_maxpool_backward_sums_on_overlap(window, stride, dtype, rng):
    x = rng.integers(0, 3, (2, 3, 5, 6)).astype(dtype)
    _, where = naive.maxpool(x, *window, *stride)
    err = rng.standard_normal(where.shape).astype(dtype)
    expected = naive.maxpool_backward(err.astype(np.float64), where, x.shape)
    dx = nan_array(x.shape, dtype)
    kernels.maxpool2d_backward(err, where, dx)
    assert_close(dx, expected, dtype)


def test_maxpool_backward_accumulates_on_shared_maximum():
    # One maximum in the middle shared by all four overlapping windows.
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    out = nan_array((1, 1, 2, 2), np.float64)
    where = np.full((1, 1, 2, 2), -1, dtype=np.intp)
    kernels.maxpool2d_forward(x, 2, 2, 1, 1, out, where)
    np.testing.assert_array_equal(where, np.full((1, 1, 2, 2), 4))
    dx = nan_array(x.shape, np.float64)
    kernels.maxpool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), where, dx)
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(dx, expected)


# ---------------------------------------------------------------------------
# Strided upsampling and downsampling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride, full", [((2, 2), (7, 8)), ((1, 3), (4, 10)), ((3, 2), (9, 5))])
def test_upsample_places_values_and_zeros(stride, full, dtype, rng):
    sy, sx = stride
    h, w = full
    small = rng.standard_normal((2, 3, -(-h // sy), -(-w // sx))).astype(dtype) + 5
    out = nan_array((2, 3, h, w), dtype)
    kernels.upsample_strided(small, sy, sx, out)
    np.testing.assert_array_equal(out, naive.upsample(small, sy, sx, full))
    # Non-zeros exactly on the stride grid (the values are far from 0).
    grid = np.zeros((h, w), bool)
    grid[::sy, ::sx] = True
    np.testing.assert_array_equal(out != 0, np.broadcast_to(grid, out.shape))

    back = nan_array(small.shape, dtype)
    kernels.downsample_strided(out, sy, sx, back)
    np.testing.assert_array_equal(back, small)


@pytest.mark.parametrize("dtype", DTYPES)
def test_downsample_keeps_every_stride_th_pixel(dtype, rng):
    x = rng.standard_normal((2, 2, 7, 9)).astype(dtype)
    out = nan_array((2, 2, 3, 3), dtype)
    kernels.downsample_strided(x, 3, 4, out)
    np.testing.assert_array_equal(out, x[:, :, ::3, ::4])


# ---------------------------------------------------------------------------
# ReLU: the one-thread and the chunked parallel kernels
# ---------------------------------------------------------------------------

CHUNK = kernels.activation.CHUNK


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_relu_kernels(size, dtype, threads, rng):
    # Sizes below, at and across chunk boundaries; NaN and exact zeros in the input.
    x = rng.standard_normal(size).astype(dtype)
    x[::97] = 0
    x[3::101] = np.nan
    err = rng.standard_normal(size).astype(dtype)
    expected = np.where((x > 0) | np.isnan(x), x, 0).astype(dtype)
    before = fastlayers.get_num_threads()
    fastlayers.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        for forward in (kernels.relu_forward, kernels.relu_forward_parallel):
            out = nan_array(size, dtype)
            forward(x, out)
            np.testing.assert_array_equal(out, expected)
        for backward in (kernels.relu_backward, kernels.relu_backward_parallel):
            dx = nan_array(size, dtype)
            backward(expected, err, dx)
            np.testing.assert_array_equal(dx, np.where(expected > 0, err, 0).astype(dtype))
    finally:
        fastlayers.set_num_threads(before)


def test_relu_layer_uses_both_paths(rng):
    # Below and above the size from which the functional tier runs the parallel kernels.
    threshold = fastlayers.functional.activation.SERIAL_ELEMENTS
    for size in (threshold - 1, threshold + 3):
        x = rng.standard_normal((size, 1))
        err = rng.standard_normal((size, 1))
        layer = fastlayers.ReLU()
        np.testing.assert_array_equal(layer.forward(x), np.maximum(x, 0))
        np.testing.assert_array_equal(layer.backward(err), np.where(x > 0, err, 0))
