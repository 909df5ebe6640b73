"""Brute-force oracles: explicit loops that are obviously right, and slow.

Every function here computes in float64 (or keeps the input dtype where the
result is a selection, not arithmetic) one element at a time, written from
the definition and sharing no code with :mod:`fastlayers`.  Arrays are NCHW.
"""

import numpy as np


def pad(x, top, bottom, left, right):
    """Zero-pad the two spatial axes of an NCHW array."""
    b, c, h, w = x.shape
    out = np.zeros((b, c, h + top + bottom, w + left + right), dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out


def windows(out_shape, sy, sx, m, n):
    """Yield ``(b, k, oy, ox, rows, cols)`` for every element of ``out_shape``.

    ``rows`` and ``cols`` are the slices of the m x n input window that
    output pixel (oy, ox) reads, with strides ``sy`` and ``sx``.
    """
    for bi, ki, oy, ox in np.ndindex(*out_shape):
        yield bi, ki, oy, ox, slice(oy * sy, oy * sy + m), slice(ox * sx, ox * sx + n)


def conv_forward(xp, weights, bias, sy, sx):
    """Strided cross-correlation of a padded NCHW input, one output pixel at a time."""
    b, c, hp, wp = xp.shape
    k, _, m, n = weights.shape
    oh, ow = (hp - m) // sy + 1, (wp - n) // sx + 1
    out = np.zeros((b, k, oh, ow))
    for bi, ki, oy, ox, rows, cols in windows((b, k, oh, ow), sy, sx, m, n):
        out[bi, ki, oy, ox] = np.sum(xp[bi, :, rows, cols] * weights[ki]) + bias[ki]
    return out


def conv_grad_input(err, weights, sy, sx, padded_hw, top, left, hw):
    """Scatter each output error back over the window it was computed from."""
    b = err.shape[0]
    _, c, m, n = weights.shape
    dxp = np.zeros((b, c) + tuple(padded_hw))
    for bi, ki, oy, ox, rows, cols in windows(err.shape, sy, sx, m, n):
        dxp[bi, :, rows, cols] += err[bi, ki, oy, ox] * weights[ki]
    return dxp[:, :, top : top + hw[0], left : left + hw[1]]


def conv_grad_weights(xp, err, sy, sx, m, n):
    """Sum of error times input window, over batch and output positions.

    Returns the weight gradient (k, c, m, n) and the bias gradient (k,).
    """
    k = err.shape[1]
    c = xp.shape[1]
    grad_w = np.zeros((k, c, m, n))
    for bi, ki, oy, ox, rows, cols in windows(err.shape, sy, sx, m, n):
        grad_w[ki] += err[bi, ki, oy, ox] * xp[bi, :, rows, cols]
    return grad_w, err.sum(axis=(0, 2, 3))


def maxpool(x, ph, pw, sy, sx):
    """Max and flat in-plane argmax per window, with ``np.argmax`` semantics.

    Ties (and NaNs) go to the first element in row-major order of the window.
    """
    b, c, h, w = x.shape
    oh, ow = (h - ph) // sy + 1, (w - pw) // sx + 1
    out = np.zeros((b, c, oh, ow), dtype=x.dtype)
    where = np.zeros((b, c, oh, ow), dtype=np.intp)
    for bi, ci, oy, ox, rows, cols in windows(out.shape, sy, sx, ph, pw):
        window = x[bi, ci, rows, cols]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        out[bi, ci, oy, ox] = window[i, j]
        where[bi, ci, oy, ox] = (oy * sy + i) * w + ox * sx + j
    return out, where


def maxpool_backward(err, where, input_shape):
    """Add each output error to the input element its flat in-plane index names."""
    dx = np.zeros(input_shape)
    width = input_shape[3]
    for bi, ci, oy, ox in np.ndindex(*where.shape):
        y, x = divmod(int(where[bi, ci, oy, ox]), width)
        dx[bi, ci, y, x] += err[bi, ci, oy, ox]
    return dx


def upsample(small, sy, sx, full_hw):
    """Place ``small`` on the stride grid of a zero array of spatial size ``full_hw``."""
    b, c, oh, ow = small.shape
    out = np.zeros((b, c) + tuple(full_hw), small.dtype)
    for oy in range(oh):
        for ox in range(ow):
            out[:, :, oy * sy, ox * sx] = small[:, :, oy, ox]
    return out


def numerical_gradient(f, x, eps=1e-6, indices=None):
    """Central-difference gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(array) -> float``; called with perturbed float64 copies of ``x``.
    x : ndarray
        Point at which to differentiate; not modified.
    eps : float
        Step of the central difference.
    indices : iterable of tuple, optional
        Multi-indices to differentiate along; all of ``x`` by default.

    Returns
    -------
    ndarray
        Array of ``x``'s shape (float64); entries not in ``indices`` are 0.
    """
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    if indices is None:
        indices = np.ndindex(*x.shape)
    for index in indices:
        index = tuple(index)
        original = x[index]
        x[index] = original + eps
        upper = f(x.copy())
        x[index] = original - eps
        lower = f(x.copy())
        x[index] = original
        grad[index] = (upper - lower) / (2 * eps)
    return grad
