"""Direct 2-D convolution (cross-correlation) and its gradients.

All arrays are in the batch-innermost layout of :mod:`.layout`:
inputs ``(c, h, w, b)``, outputs and output errors ``(k, oh, ow, b)``,
weights ``(k, c, m, n)``.  The caller pads the input once
(:func:`.layout.nchw_to_chwb`), so no inner loop tests for borders.
"""

import numpy as np
from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def conv2d_forward(xp, weights, bias, stride_y, stride_x, out):
    """Strided cross-correlation of a padded input with a filter bank.

    ``out[k, oy, ox, :] = bias[k] + sum_{c,i,j} weights[k, c, i, j]
    * xp[c, oy * stride_y + i, ox * stride_x + j, :]``

    Parameters
    ----------
    xp : ndarray, shape (c, hp, wp, b)
        Zero-padded input.
    weights : ndarray, shape (k, c, m, n)
    bias : ndarray, shape (k,)
    stride_y, stride_x : int
    out : ndarray, shape (k, oh, ow, b)
        Written in full; ``(oh - 1) * stride_y + m <= hp`` must hold
        (likewise for the columns).
    """
    n_kern, out_h, out_w, n_batch = out.shape
    n_chan, k_h, k_w = weights.shape[1], weights.shape[2], weights.shape[3]
    # Four output channels share every load of the input: one load feeds
    # four multiply-adds instead of one.
    n_blocks = (n_kern + 3) // 4
    for task in prange(n_blocks * out_h):
        k0 = (task // out_h) * 4
        oy = task % out_h
        if k0 + 4 <= n_kern:
            for ox in range(out_w):
                a0 = out[k0, oy, ox]
                a1 = out[k0 + 1, oy, ox]
                a2 = out[k0 + 2, oy, ox]
                a3 = out[k0 + 3, oy, ox]
                a0[:] = bias[k0]
                a1[:] = bias[k0 + 1]
                a2[:] = bias[k0 + 2]
                a3[:] = bias[k0 + 3]
                for c in range(n_chan):
                    for i in range(k_h):
                        xrow = xp[c, oy * stride_y + i]
                        for j in range(k_w):
                            w0 = weights[k0, c, i, j]
                            w1 = weights[k0 + 1, c, i, j]
                            w2 = weights[k0 + 2, c, i, j]
                            w3 = weights[k0 + 3, c, i, j]
                            xv = xrow[ox * stride_x + j]
                            for b in range(n_batch):
                                v = xv[b]
                                a0[b] += w0 * v
                                a1[b] += w1 * v
                                a2[b] += w2 * v
                                a3[b] += w3 * v
        else:
            for k in range(k0, n_kern):
                for ox in range(out_w):
                    acc = out[k, oy, ox]
                    acc[:] = bias[k]
                    for c in range(n_chan):
                        for i in range(k_h):
                            xrow = xp[c, oy * stride_y + i]
                            for j in range(k_w):
                                wv = weights[k, c, i, j]
                                xv = xrow[ox * stride_x + j]
                                for b in range(n_batch):
                                    acc[b] += wv * xv[b]


@kernel(parallel=True)
def conv2d_grad_input(err, weights, stride_y, stride_x, pad_top, pad_left, dx):
    """Gradient of :func:`conv2d_forward` with respect to its input.

    Works as a gather over the output error: each input pixel collects the
    taps that touched it, so a strided convolution costs no work for the
    zeros that an explicit upsampling of the error would insert.

    Parameters
    ----------
    err : ndarray, shape (k, oh, ow, b)
        Error with respect to the output.
    weights : ndarray, shape (k, c, m, n)
    stride_y, stride_x, pad_top, pad_left : int
        As in the forward pass.
    dx : ndarray, shape (c, h, w, b)
        Written in full: the error with respect to the unpadded input.
    """
    n_kern, out_h, out_w, n_batch = err.shape
    n_chan, height, width = dx.shape[0], dx.shape[1], dx.shape[2]
    k_h, k_w = weights.shape[2], weights.shape[3]
    for task in prange(n_chan * height):
        c = task // height
        y = task % height
        ty = y + pad_top
        for xx in range(width):
            tx = xx + pad_left
            acc = dx[c, y, xx]
            acc[:] = 0
            # Only taps i with (ty - i) divisible by the stride reach an
            # output row; start at the first such tap and step by the stride.
            for i in range(ty % stride_y, k_h, stride_y):
                oy = (ty - i) // stride_y
                if oy < 0 or oy >= out_h:
                    continue
                for j in range(tx % stride_x, k_w, stride_x):
                    ox = (tx - j) // stride_x
                    if ox < 0 or ox >= out_w:
                        continue
                    for k in range(n_kern):
                        wv = weights[k, c, i, j]
                        ev = err[k, oy, ox]
                        for b in range(n_batch):
                            acc[b] += wv * ev[b]


@kernel(parallel=True)
def conv2d_grad_weights(xp, err, stride_y, stride_x, grad_w, grad_b):
    """Gradients of :func:`conv2d_forward` with respect to weights and bias.

    Each task owns one kernel row ``grad_w[k, c, i, :]``, so threads never
    write to the same element and need no partial buffers to merge.

    Parameters
    ----------
    xp : ndarray, shape (c, hp, wp, b)
        The padded input of the forward pass.
    err : ndarray, shape (k, oh, ow, b)
        Error with respect to the output.
    stride_y, stride_x : int
    grad_w : ndarray, shape (k, c, m, n)
        Written in full.
    grad_b : ndarray, shape (k,)
        Written in full.
    """
    n_kern, out_h, out_w, n_batch = err.shape
    n_chan, k_h, k_w = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    for task in prange(n_kern * n_chan * k_h):
        k = task // (n_chan * k_h)
        c = (task // k_h) % n_chan
        i = task % k_h
        # One partial sum per (tap, batch lane): the hot loop is a plain
        # vector multiply-add, and the lanes are summed once at the end.
        part = np.zeros((k_w, n_batch), dtype=grad_w.dtype)
        for oy in range(out_h):
            xrow = xp[c, oy * stride_y + i]
            for ox in range(out_w):
                ev = err[k, oy, ox]
                for j in range(k_w):
                    xv = xrow[ox * stride_x + j]
                    pj = part[j]
                    for b in range(n_batch):
                        pj[b] += ev[b] * xv[b]
        for j in range(k_w):
            grad_w[k, c, i, j] = part[j].sum()
    for k in prange(n_kern):
        grad_b[k] = err[k].sum()
