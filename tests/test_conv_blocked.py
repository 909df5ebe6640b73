"""The register-blocked convolution kernels against brute-force loops and the direct kernels.

The shapes exercise every part of the blocked kernels: full groups of six
output channels and a short last group (odd channel counts), tap lists
longer than one chunk, rows that fill whole tiles, single vectors and
fewer elements than one vector (batch 1 and 3), strides 1 and 2, and
uneven padding.  Outputs are pre-filled with NaN so that an element left
unwritten fails.
"""

import numba
import numpy as np
import pytest

import fastlayers
from fastlayers import kernels
from fastlayers.functional._conv_choice import use_blocked, wide_vectors

from . import naive
from .helpers import DTYPES, assert_close, nan_array

CASES = [
    # batch, channels, h, w, kernels, m, n, stride (sy, sx), pads (t, b, l, r)
    (1, 3, 6, 7, 7, 3, 3, (1, 1), (1, 1, 1, 1)),  # one group of 6 and a group of 1
    (3, 5, 5, 6, 13, 3, 3, (1, 1), (1, 1, 1, 1)),  # 45 taps: two tap chunks; rows of 18
    (3, 4, 7, 6, 11, 3, 2, (2, 1), (2, 0, 1, 0)),  # row stride 2, uneven padding
    (64, 3, 5, 6, 7, 3, 3, (1, 1), (1, 1, 1, 1)),  # rows of whole tiles
    (64, 2, 7, 7, 17, 3, 3, (2, 2), (1, 1, 1, 1)),  # column stride: pixel-sized segments
    (3, 2, 6, 7, 5, 2, 3, (2, 2), (0, 1, 1, 0)),  # column stride, batch below a vector
    (1, 17, 4, 4, 3, 1, 1, (1, 1), (0, 0, 0, 0)),  # 1x1 kernel, many input channels
]


def to_chwb(x, pads=(0, 0, 0, 0)):
    """Pad and convert an NCHW array to the kernels' (c, h, w, b) layout."""
    top, bottom, left, right = pads
    return np.ascontiguousarray(naive.pad(x, top, bottom, left, right).transpose(1, 2, 3, 0))


def from_chwb(x):
    return np.ascontiguousarray(x.transpose(3, 0, 1, 2))


def conv_data(case, dtype, rng):
    b, c, h, w, k, m, n, (sy, sx), pads = case
    x = rng.standard_normal((b, c, h, w)).astype(dtype)
    weights = rng.standard_normal((k, c, m, n)).astype(dtype)
    bias = rng.standard_normal(k).astype(dtype)
    xp = naive.pad(x, *pads)
    oh = (xp.shape[2] - m) // sy + 1
    ow = (xp.shape[3] - n) // sx + 1
    err = rng.standard_normal((b, k, oh, ow)).astype(dtype)
    return x, xp, weights, bias, err


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_forward_blocked_matches_naive_and_direct(case, dtype, rng):
    x, xp, weights, bias, err = conv_data(case, dtype, rng)
    sy, sx = case[7]
    b, k, oh, ow = err.shape
    out = nan_array((k, oh, ow, b), dtype)
    kernels.conv2d_forward_blocked(to_chwb(x, case[8]), weights, bias, sy, sx, out)
    expected = naive.conv_forward(xp.astype(np.float64), weights, bias, sy, sx)
    assert_close(from_chwb(out), expected, dtype)
    direct = nan_array((k, oh, ow, b), dtype)
    kernels.conv2d_forward(to_chwb(x, case[8]), weights, bias, sy, sx, direct)
    assert_close(out, direct, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_grad_weights_blocked_matches_naive_and_direct(case, dtype, rng):
    x, xp, weights, _, err = conv_data(case, dtype, rng)
    sy, sx = case[7]
    m, n = weights.shape[2:]
    grad_w = nan_array(weights.shape, dtype)
    grad_b = nan_array(weights.shape[:1], dtype)
    kernels.conv2d_grad_weights_blocked(to_chwb(x, case[8]), to_chwb(err), sy, sx, grad_w, grad_b)
    expected_w, expected_b = naive.conv_grad_weights(xp.astype(np.float64), err, sy, sx, m, n)
    assert_close(grad_w, expected_w, dtype)
    assert_close(grad_b, expected_b, dtype)
    direct_w = nan_array(weights.shape, dtype)
    direct_b = nan_array(weights.shape[:1], dtype)
    kernels.conv2d_grad_weights(to_chwb(x, case[8]), to_chwb(err), sy, sx, direct_w, direct_b)
    assert_close(grad_w, direct_w, dtype)
    assert_close(grad_b, direct_b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [c for c in CASES if c[7] == (1, 1)])
def test_input_gradient_as_blocked_forward_correlation(case, dtype, rng):
    # At stride 1 the layers compute the input gradient as a forward
    # correlation of the error, padded by the kernel size minus the forward
    # padding, with the flipped kernels and the channels swapped.
    x, xp, weights, _, err = conv_data(case, dtype, rng)
    top, bottom, left, right = case[8]
    b, c, h, w = x.shape
    k, _, m, n = weights.shape
    err_p = to_chwb(err, (m - 1 - top, m - 1 - bottom, n - 1 - left, n - 1 - right))
    flipped = np.ascontiguousarray(weights[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    dx = nan_array((c, h, w, b), dtype)
    kernels.conv2d_forward_blocked(err_p, flipped, np.zeros(c, dtype), 1, 1, dx)
    expected = naive.conv_grad_input(err, weights, 1, 1, xp.shape[2:], top, left, (h, w))
    assert_close(from_chwb(dx), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [CASES[1], CASES[4]])
def test_blocked_results_do_not_depend_on_thread_count(case, dtype, rng):
    x, _, weights, bias, err = conv_data(case, dtype, rng)
    sy, sx = case[7]
    b, k, oh, ow = err.shape
    xp, err_t = to_chwb(x, case[8]), to_chwb(err)
    results = []
    before = fastlayers.get_num_threads()
    try:
        for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            fastlayers.set_num_threads(threads)
            out = nan_array((k, oh, ow, b), dtype)
            kernels.conv2d_forward_blocked(xp, weights, bias, sy, sx, out)
            grad_w = nan_array(weights.shape, dtype)
            grad_b = nan_array((k,), dtype)
            kernels.conv2d_grad_weights_blocked(xp, err_t, sy, sx, grad_w, grad_b)
            results.append((out, grad_w, grad_b))
    finally:
        fastlayers.set_num_threads(before)
    for got in results[1:]:
        for a, e in zip(got, results[0]):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_choice_keeps_few_images_of_few_channels_on_direct_kernels(dtype):
    # (k, c, m, n) of the correlations a layer runs: forward, and input
    # gradient with the channels swapped.
    lenet = [(6, 1, 5, 5), (1, 6, 5, 5), (10, 6, 5, 5), (6, 10, 5, 5)]
    cifar = [(32, 3, 3, 3), (3, 32, 3, 3), (64, 32, 3, 3), (32, 64, 3, 3), (64, 64, 3, 3)]
    vector = 16 if dtype == "float32" else 8  # images filling one 64-byte vector
    for batch in (1, 4, vector - 1, vector, 64):
        # Few channels: blocked only from a full vector of images on.
        expected = wide_vectors() and batch >= vector
        assert all(use_blocked(*shape, batch, dtype) == expected for shape in lenet)
        # Without AVX-512 the direct kernels run everywhere.
        assert all(use_blocked(*shape, batch, dtype) == wide_vectors() for shape in cifar)


@pytest.mark.skipif(not wide_vectors(), reason="the blocked kernels run only with AVX-512")
def test_choice_needs_a_full_vector_of_batch_at_column_stride():
    assert use_blocked(64, 32, 3, 3, 16, np.float32, stride_x=2)
    assert not use_blocked(64, 32, 3, 3, 15, np.float32, stride_x=2)
    assert use_blocked(64, 32, 3, 3, 8, np.float64, stride_x=2)
    assert not use_blocked(64, 32, 3, 3, 7, np.float64, stride_x=2)
    assert not use_blocked(64, 32, 3, 3, 64, np.int64)
