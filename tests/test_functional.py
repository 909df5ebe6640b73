"""The functional tier against straightforward NumPy computations.

Each function is compared with an independent computation written here
with ``numpy`` only (sliding windows and ``einsum``), over strides,
paddings, dtypes and memory layouts; then the tier's own promises: empty
batches, ``out=``, the ``caller`` in error messages, and one thread for
small work.
"""

import numba
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from fastlayers import functional as F
from fastlayers import parallel

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}


def close(actual, expected, dtype):
    """``actual`` equals ``expected`` to the tolerance of ``dtype``, scaled by its largest entry."""
    rtol = RTOL[np.dtype(dtype)]
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def naive_pad(x, pads):
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def naive_conv2d(x, w, b, stride, pads):
    xp = naive_pad(x.astype(np.float64), pads)
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    y = np.einsum("bchwij,kcij->bkhw", win, w.astype(np.float64))
    return y + (0 if b is None else b.astype(np.float64)[None, :, None, None])


def naive_conv2d_backward(x, w, err, stride, pads):
    """Gradients by the chain rule on the windows: scatter for dx."""
    xp = naive_pad(x.astype(np.float64), pads)
    m, n = w.shape[2:]
    win = sliding_window_view(xp, (m, n), axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    dw = np.einsum("bchwij,bkhw->kcij", win, err)
    db = err.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    for oy in range(err.shape[2]):
        for ox in range(err.shape[3]):
            y0, x0 = oy * stride[0], ox * stride[1]
            dxp[:, :, y0 : y0 + m, x0 : x0 + n] += np.einsum("bk,kcij->bcij", err[:, :, oy, ox], w)
    top, bottom, left, right = pads
    dx = dxp[:, :, top : xp.shape[2] - bottom, left : xp.shape[3] - right]
    return dx, dw, db


CONV_CASES = [
    # (batch, channels, h, w, kernels, m, n, stride, padding)
    (2, 1, 7, 6, 3, 3, 3, (1, 1), "same"),
    (3, 2, 9, 8, 4, 5, 5, (1, 1), "same"),
    (1, 3, 8, 9, 2, 4, 2, (2, 3), "same"),
    (2, 2, 7, 7, 3, 3, 3, (2, 2), "valid"),
    (2, 3, 6, 5, 5, 2, 3, (1, 2), 1),
    (1, 2, 5, 6, 1, 3, 2, (3, 1), (2, 1)),
    (2, 1, 4, 4, 2, 3, 3, (1, 1), (0, 2, 1, 3)),
    (1, 2, 3, 3, 2, 5, 5, (1, 1), (4, 4, 4, 4)),  # padding larger than the kernel reach
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_matches_naive(case, dtype):
    rng = np.random.default_rng(1)
    b, c, h, w, k, m, n, stride, padding = case
    x = rng.standard_normal((b, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, m, n)).astype(dtype)
    bias = rng.standard_normal(k).astype(dtype)
    pads = F.resolve_padding(padding, (m, n), "test")
    y, saved = F.conv2d(x, wt, bias, stride, padding, return_saved=True)
    assert y.dtype == dtype
    close(y, naive_conv2d(x, wt, bias, stride, pads), dtype)
    err = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = F.conv2d_backward(err, saved)
    ndx, ndw, ndb = naive_conv2d_backward(x, wt, err.astype(np.float64), stride, pads)
    close(dx, ndx, dtype)
    close(dw, ndw, dtype)
    close(db, ndb, dtype)
    none, dw2, db2 = F.conv2d_backward(err, saved, input_gradient=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


def test_conv2d_layouts_and_promotion():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 10, 12))
    w = rng.standard_normal((4, 3, 3, 3))
    expected = F.conv2d(x, w)
    strided = np.asfortranarray(x)
    readonly = x.copy()
    readonly.flags.writeable = False
    for variant in (strided, readonly, x[:, :, ::1, ::1], list(x.tolist())):
        np.testing.assert_array_equal(F.conv2d(variant, w), expected)
    # float32 input with float64 weights computes in float64.
    assert F.conv2d(x.astype(np.float32), w).dtype == np.float64
    assert F.conv2d(x.astype(np.float32), w.astype(np.float32)).dtype == np.float32
    assert F.conv2d(np.ones((1, 3, 4, 4), dtype=int), w).dtype == np.float64


def test_conv1d_is_conv2d_on_a_column():
    rng = np.random.default_rng(3)
    for stride, padding in ((1, "same"), (2, "valid"), (3, (2, 1)), (1, 3)):
        x = rng.standard_normal((3, 2, 17))
        w = rng.standard_normal((4, 2, 5))
        bias = rng.standard_normal(4)
        before, after = (
            (5 // 2, 4 // 2)
            if padding == "same"
            else (
                (0, 0)
                if padding == "valid"
                else (padding if isinstance(padding, tuple) else (padding, padding))
            )
        )
        y, saved = F.conv1d(x, w, bias, stride, padding, return_saved=True)
        y2, saved2 = F.conv2d(
            x[..., None], w[..., None], bias, (stride, 1), (before, after, 0, 0), return_saved=True
        )
        np.testing.assert_array_equal(y, y2[..., 0])
        close(
            y,
            naive_conv2d(x[..., None], w[..., None], bias, (stride, 1), (before, after, 0, 0))[
                ..., 0
            ],
            np.float64,
        )
        err = rng.standard_normal(y.shape)
        dx, dw, db = F.conv1d_backward(err, saved)
        dx2, dw2, db2 = F.conv2d_backward(err[..., None], saved2)
        np.testing.assert_array_equal(dx, dx2[..., 0])
        np.testing.assert_array_equal(dw, dw2[..., 0])
        np.testing.assert_array_equal(db, db2)


def naive_windows(x, window, stride):
    return sliding_window_view(x, window, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


@pytest.mark.parametrize(
    "window, stride", [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2)), ((3, 1), (1, 3))]
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_tie_policies(window, stride, dtype):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(3, 2, 9, 10)).astype(dtype)  # many exact ties
    y, idx = F.max_pool2d(x, window, stride)
    win = naive_windows(x, window, stride)
    np.testing.assert_array_equal(y, win.max(axis=(4, 5)))
    err = rng.standard_normal(y.shape).astype(dtype)
    b, c, h, w = x.shape
    for ties in ("first", "all", "split"):
        dx = F.max_pool2d_backward(err, idx, x.shape, ties=ties, x=x, window=window, stride=stride)
        expected = np.zeros(x.shape)
        for bb, cc, oy, ox in np.ndindex(*y.shape):
            patch = win[bb, cc, oy, ox]
            tied = np.argwhere(patch == patch.max())
            if ties == "first":
                tied = tied[:1]  # argwhere is in row-major order
            share = err[bb, cc, oy, ox] / (len(tied) if ties == "split" else 1)
            for i, j in tied:
                expected[bb, cc, oy * stride[0] + i, ox * stride[1] + j] += share
        close(dx, expected, dtype)


def test_max_pool2d_nan_goes_to_its_position():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 0] = np.nan
    y, idx = F.max_pool2d(x, 2)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 2
    for ties in ("first", "all", "split"):
        dx = F.max_pool2d_backward(np.ones_like(y), idx, x.shape, ties=ties, x=x, window=2)
        np.testing.assert_array_equal(dx, [[[[0.0, 0.0], [1.0, 0.0]]]])


@pytest.mark.parametrize("window, stride", [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 1))])
def test_avg_pool2d_matches_naive(window, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 8, 9))
    y = F.avg_pool2d(x, window, stride)
    s = window if stride is None else stride
    close(y, naive_windows(x, window, s).mean(axis=(4, 5)), np.float64)
    err = rng.standard_normal(y.shape)
    dx = F.avg_pool2d_backward(err, x.shape, window, stride)
    # The adjoint identity <avg(x), err> = <x, dx> holds for every x.
    probe = rng.standard_normal(x.shape)
    assert np.isclose(
        np.sum(F.avg_pool2d(probe, window, stride) * err), np.sum(probe * dx), rtol=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_and_relu(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 7)).astype(dtype)
    w = rng.standard_normal((7, 3)).astype(dtype)
    bias = rng.standard_normal(3).astype(dtype)
    y = F.linear(x, w, bias)
    close(y, x.astype(np.float64) @ w + bias, dtype)
    err = rng.standard_normal(y.shape).astype(dtype)
    dx, dw, db = F.linear_backward(err, x, w)
    close(dx, err.astype(np.float64) @ w.T.astype(np.float64), dtype)
    close(dw, x.T.astype(np.float64) @ err.astype(np.float64), dtype)
    close(db, err.astype(np.float64).sum(axis=0), dtype)
    for size in (F.activation.SERIAL_ELEMENTS - 1, F.activation.SERIAL_ELEMENTS + 3):
        z = rng.standard_normal(size).astype(dtype)
        r = F.relu(z)
        np.testing.assert_array_equal(r, np.maximum(z, 0))
        e = rng.standard_normal(size).astype(dtype)
        np.testing.assert_array_equal(F.relu_backward(e, r), np.where(z > 0, e, 0))


def test_upsample_and_downsample_invert_each_other():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 5))
    up = F.upsample_strided(x, (2, 3), (8, 13))
    expected = np.zeros((2, 3, 8, 13))
    expected[:, :, ::2, ::3] = x
    np.testing.assert_array_equal(up, expected)
    np.testing.assert_array_equal(F.downsample_strided(up, (2, 3)), x)
    with pytest.raises(ValueError, match="upsample_strided.*size"):
        F.upsample_strided(x, 2, (9, 10))


def test_empty_batch_gives_empty_results():
    w = np.ones((4, 3, 3, 3))
    y, saved = F.conv2d(np.zeros((0, 3, 5, 5)), w, return_saved=True)
    assert y.shape == (0, 4, 5, 5)
    dx, dw, db = F.conv2d_backward(y, saved)
    assert dx.shape == (0, 3, 5, 5) and not dw.any() and not db.any()
    y, idx = F.max_pool2d(np.zeros((0, 3, 4, 4)), 2)
    assert y.shape == idx.shape == (0, 3, 2, 2)
    assert F.max_pool2d_backward(y, idx, (0, 3, 4, 4)).shape == (0, 3, 4, 4)
    assert F.avg_pool2d(np.zeros((0, 1, 2, 2)), 2).shape == (0, 1, 1, 1)
    assert F.linear(np.zeros((0, 3)), np.ones((3, 2))).shape == (0, 2)
    with pytest.raises(ValueError, match="conv2d.*non-empty.*\\(2, 3, 0, 5\\)"):
        F.conv2d(np.zeros((2, 3, 0, 5)), w)
    with pytest.raises(ValueError, match="conv2d.*non-empty weights.*\\(4, 0, 3, 3\\)"):
        F.conv2d(np.zeros((2, 0, 5, 5)), np.ones((4, 0, 3, 3)))
    with pytest.raises(ValueError, match="max_pool2d.*non-empty.*\\(2, 3, 0, 4\\)"):
        F.max_pool2d(np.zeros((2, 3, 0, 4)), 1)


def test_out_is_written_and_checked():
    x = np.ones((2, 3, 6, 6))
    w = np.ones((4, 3, 3, 3))
    out = np.full((2, 4, 6, 6), np.nan)
    result = F.conv2d(x, w, out=out)
    assert result is out
    np.testing.assert_array_equal(out, F.conv2d(x, w))
    with pytest.raises(ValueError, match="conv2d: expected out of shape \\(2, 4, 6, 6\\)"):
        F.conv2d(x, w, out=np.empty((2, 4, 6, 5)))
    with pytest.raises(ValueError, match="C-contiguous"):
        F.conv2d(x, w, out=np.empty((2, 4, 6, 12))[..., ::2])


@pytest.mark.parametrize(
    "call, fragments",
    [
        (
            lambda: F.conv2d(np.ones((2, 3, 5)), np.ones((1, 3, 3, 3))),
            ["4 dimensions", "(2, 3, 5)"],
        ),
        (
            lambda: F.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 3, 3, 3))),
            ["3 channels", "(1, 2, 5, 5)"],
        ),
        (
            lambda: F.conv2d(np.ones((1, 3, 2, 2)), np.ones((1, 3, 3, 3)), padding="valid"),
            ["3x3 kernel", "(2, 2)"],
        ),
        (
            lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), np.ones(3)),
            ["bias", "(2,)", "(3,)"],
        ),
        (lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), stride=0), ["stride", "0"]),
        (
            lambda: F.conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3, 3, 3)), padding="full"),
            ["padding", "'full'"],
        ),
        (lambda: F.conv2d_backward(np.ones((1, 2, 5, 5)), None), ["Conv2dSaved", "NoneType"]),
        (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 2, ties="random"), ["ties", "'random'"]),
        (lambda: F.max_pool2d(np.ones((1, 1, 1, 4)), 2), ["2x2 window", "(1, 4)"]),
        (
            lambda: F.max_pool2d_backward(
                np.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), (1, 1, 4, 4)
            ),
            ["indices", "0 to 15", "16"],
        ),
        (
            lambda: F.max_pool2d_backward(
                np.ones((1, 1, 2, 2)), np.zeros((1, 1, 2, 2), int), (1, 1, 4, 4), ties="all"
            ),
            ["x and window", "NoneType"],
        ),
        (
            lambda: F.max_pool2d_backward(
                np.ones((1, 1, 2, 3)), np.zeros((1, 1, 2, 2), int), (1, 1, 4, 4)
            ),
            ["error", "(1, 1, 2, 2)", "(1, 1, 2, 3)"],
        ),
        (
            lambda: F.avg_pool2d_backward(np.ones((1, 1, 2, 3)), (1, 1, 4, 4), 2),
            ["error", "(1, 1, 2, 2)", "(1, 1, 2, 3)"],
        ),
        (lambda: F.linear(np.ones((2, 4)), np.ones((3, 2))), ["(batch, 3)", "(2, 4)"]),
        (lambda: F.linear(np.ones((2, 3)), np.ones((3, 2)), np.ones(3)), ["bias", "(2,)", "(3,)"]),
        (lambda: F.linear(np.ones((2, 3), complex), np.ones((3, 2))), ["complex128"]),
        (lambda: F.relu_backward(np.ones(3), np.ones(4)), ["error", "(4,)", "(3,)"]),
        (
            lambda: F.conv1d(np.ones((1, 2, 5)), np.ones((1, 2, 3)), stride=(1, 2)),
            ["stride", "(1, 2)"],
        ),
    ],
)
def test_errors_name_the_caller(call, fragments):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    # Passing ``caller`` puts another name at the start of every message.
    assert message.split(":")[0] in {
        "conv2d",
        "conv2d_backward",
        "conv1d",
        "max_pool2d",
        "max_pool2d_backward",
        "avg_pool2d_backward",
        "linear",
        "relu_backward",
    }


def test_caller_names_the_class_of_the_user():
    with pytest.raises(ValueError, match="^MyConv: expected input with 3 channels"):
        F.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 3, 3, 3)), caller="MyConv")


def test_small_work_runs_on_one_thread():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one thread is all there is")
    seen = []

    def probe():
        seen.append(numba.get_num_threads())

    parallel.launch(probe, True)
    parallel.launch(probe, False)
    assert seen == [1, numba.get_num_threads()]
    assert numba.get_num_threads() > 1  # restored after the serial call
