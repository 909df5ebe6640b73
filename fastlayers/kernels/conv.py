"""Direct 2-D convolution (cross-correlation) and its gradients.

All arrays are in the batch-innermost layout of :mod:`.layout`:
inputs ``(c, h, w, b)``, outputs and output errors ``(k, oh, ow, b)``,
weights ``(k, c, m, n)``.  The caller pads the input once
(:func:`.layout.nchw_to_chwb`), so no inner loop tests for borders.

The hot loops are plain multiply-adds along contiguous runs: the batch
axis, or at unit column stride a whole output row times the batch.  What
makes them fast is how many multiply-adds share each load and store: the
forward pass updates two output channels from four taps at a time; the
weight gradient keeps sixteen sums (four kernels by four taps) in
registers over whole rows.
"""

import numpy as np
from numba import prange

from ._jit import kernel


@kernel
def _tap_rows(n_chan, k_h, k_w, padded_h, padded_w):
    # Row of the (c * hp * wp, b) view of the padded input that tap
    # t = (c, i, j) reads for output pixel (0, 0); other pixels add an offset.
    rows = np.empty(n_chan * k_h * k_w, np.intp)
    for t in range(rows.size):
        c = t // (k_h * k_w)
        i = (t // k_w) % k_h
        j = t % k_w
        rows[t] = (c * padded_h + i) * padded_w + j
    return rows


@kernel
def _correlate_pair(x_flat, base, offsets, w0, w1, a0, a1):
    # a0 += sum_t w0[t] * x_flat[base + offsets[t] :][:n], likewise a1 with
    # w1 (n = a0.size): four taps per pass, so one load and store of each
    # accumulator serves eight multiply-adds.
    n_taps = offsets.size
    n = a0.size
    t = 0
    while t + 4 <= n_taps:
        x0 = x_flat[base + offsets[t] : base + offsets[t] + n]
        x1 = x_flat[base + offsets[t + 1] : base + offsets[t + 1] + n]
        x2 = x_flat[base + offsets[t + 2] : base + offsets[t + 2] + n]
        x3 = x_flat[base + offsets[t + 3] : base + offsets[t + 3] + n]
        p0, p1, p2, p3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        q0, q1, q2, q3 = w1[t], w1[t + 1], w1[t + 2], w1[t + 3]
        for b in range(n):
            v0 = x0[b]
            v1 = x1[b]
            v2 = x2[b]
            v3 = x3[b]
            a0[b] += p0 * v0 + p1 * v1 + p2 * v2 + p3 * v3
            a1[b] += q0 * v0 + q1 * v1 + q2 * v2 + q3 * v3
        t += 4
    while t < n_taps:
        x0 = x_flat[base + offsets[t] : base + offsets[t] + n]
        p0 = w0[t]
        q0 = w1[t]
        for b in range(n):
            a0[b] += p0 * x0[b]
            a1[b] += q0 * x0[b]
        t += 1


@kernel
def _correlate_one(x_flat, base, offsets, w0, a0):
    # The single-channel version of _correlate_pair, for an odd channel out.
    n_taps = offsets.size
    n = a0.size
    t = 0
    while t + 4 <= n_taps:
        x0 = x_flat[base + offsets[t] : base + offsets[t] + n]
        x1 = x_flat[base + offsets[t + 1] : base + offsets[t + 1] + n]
        x2 = x_flat[base + offsets[t + 2] : base + offsets[t + 2] + n]
        x3 = x_flat[base + offsets[t + 3] : base + offsets[t + 3] + n]
        p0, p1, p2, p3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        for b in range(n):
            a0[b] += p0 * x0[b] + p1 * x1[b] + p2 * x2[b] + p3 * x3[b]
        t += 4
    while t < n_taps:
        x0 = x_flat[base + offsets[t] : base + offsets[t] + n]
        p0 = w0[t]
        for b in range(n):
            a0[b] += p0 * x0[b]
        t += 1


@kernel(parallel=True)
def conv2d_forward(xp, weights, bias, stride_y, stride_x, out):
    """Strided cross-correlation of a padded input with a filter bank.

    ``out[k, oy, ox, :] = bias[k] + sum_{c,i,j} weights[k, c, i, j]
    * xp[c, oy * stride_y + i, ox * stride_x + j, :]``

    Parameters
    ----------
    xp : ndarray, shape (c, hp, wp, b)
        Zero-padded input, C-contiguous.
    weights : ndarray, shape (k, c, m, n)
        C-contiguous.
    bias : ndarray, shape (k,)
    stride_y, stride_x : int
    out : ndarray, shape (k, oh, ow, b)
        Written in full; ``(oh - 1) * stride_y + m <= hp`` must hold
        (likewise for the columns).
    """
    n_kern, out_h, out_w, n_batch = out.shape
    n_chan, padded_h, padded_w = xp.shape[0], xp.shape[1], xp.shape[2]
    k_h, k_w = weights.shape[2], weights.shape[3]
    offsets = _tap_rows(n_chan, k_h, k_w, padded_h, padded_w) * n_batch
    w_flat = weights.reshape(n_kern, offsets.size)
    x_flat = xp.reshape(xp.size)
    out_rows = out.reshape(n_kern, out_h, out_w * n_batch)
    # At unit column stride the input a tap meets along a whole output row
    # is one contiguous run, as is the output row: one pass per row, not
    # per pixel, so each pass's loop overhead and alias checks are paid
    # out_w times less often.
    n_pieces = 1 if stride_x == 1 else out_w
    piece = out_w * n_batch // n_pieces
    n_pairs = (n_kern + 1) // 2
    for task in prange(n_pairs * out_h):
        k0 = (task // out_h) * 2
        oy = task % out_h
        for q in range(n_pieces):
            # Piece q starts at output pixel q (or 0 for a whole row).
            base = (oy * stride_y * padded_w + q * stride_x) * n_batch
            a0 = out_rows[k0, oy, q * piece : (q + 1) * piece]
            a0[:] = bias[k0]
            if k0 + 1 < n_kern:
                a1 = out_rows[k0 + 1, oy, q * piece : (q + 1) * piece]
                a1[:] = bias[k0 + 1]
                _correlate_pair(x_flat, base, offsets, w_flat[k0], w_flat[k0 + 1], a0, a1)
            else:
                _correlate_one(x_flat, base, offsets, w_flat[k0], a0)


@kernel
def conv2d_forward_single(xp, weights, bias, out):
    """:func:`conv2d_forward` of one image at stride 1, on one thread.

    With one image the batch axis gives the inner loops no length; here
    they run over whole output planes instead.  Output pixel ``(oy, ox)``
    is computed at position ``oy * wp + ox`` of a plane as wide as the
    padded input, so that every tap reads one contiguous run of it; the
    ``n - 1`` extra columns of each row are computed, then dropped.

    Parameters
    ----------
    xp : ndarray, shape (c, hp, wp, 1)
        Zero-padded input, C-contiguous.
    weights : ndarray, shape (k, c, m, n)
    bias : ndarray, shape (k,)
    out : ndarray, shape (k, hp - m + 1, wp - n + 1, 1)
        Written in full.
    """
    n_kern, out_h, out_w = out.shape[0], out.shape[1], out.shape[2]
    n_chan, padded_h, padded_w = xp.shape[0], xp.shape[1], xp.shape[2]
    k_h, k_w = weights.shape[2], weights.shape[3]
    offsets = _tap_rows(n_chan, k_h, k_w, padded_h, padded_w)
    w_flat = weights.reshape(n_kern, offsets.size)
    x_flat = xp.reshape(xp.size)
    # The last needed position is (out_h - 1) * wp + out_w - 1: the last
    # tap then reads the last element of its channel, never beyond.
    span = (out_h - 1) * padded_w + out_w
    a0 = np.empty(span, out.dtype)
    a1 = np.empty(span, out.dtype)
    for k0 in range(0, n_kern, 2):
        a0[:] = bias[k0]
        if k0 + 1 < n_kern:
            a1[:] = bias[k0 + 1]
            _correlate_pair(x_flat, 0, offsets, w_flat[k0], w_flat[k0 + 1], a0, a1)
        else:
            _correlate_one(x_flat, 0, offsets, w_flat[k0], a0)
        for oy in range(out_h):
            row = a0[oy * padded_w : oy * padded_w + out_w]
            dst = out[k0, oy]
            for ox in range(out_w):
                dst[ox, 0] = row[ox]
            if k0 + 1 < n_kern:
                row = a1[oy * padded_w : oy * padded_w + out_w]
                dst = out[k0 + 1, oy]
                for ox in range(out_w):
                    dst[ox, 0] = row[ox]


@kernel(parallel=True)
def conv2d_grad_input(err, weights, stride_y, stride_x, pad_top, pad_left, dx):
    """Gradient of :func:`conv2d_forward` with respect to its input.

    Works as a gather over the output error: each input pixel collects the
    taps that touched it, so a strided convolution costs no work for the
    zeros that an explicit upsampling of the error would insert.  (At
    stride 1 the same gradient is a forward correlation of the padded error
    with the flipped kernels, which the layer computes with
    :func:`conv2d_forward` instead.)

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


@kernel
def _weight_gradient_block(e0, e1, e2, e3, x0, x1, x2, x3, sums):
    # sums[r, s] += dot(e_r, x_s): four error runs against four input runs,
    # all of the same length and contiguous.  The sixteen sums stay in
    # registers (LLVM vectorises the reductions): eight loads per sixteen
    # multiply-adds and no stores in the loop.  Indexing views with the
    # loop counter (never negative) keeps the loads plain vector loads,
    # without numba's wraparound for negative indices.
    s00, s01, s02, s03 = sums[0, 0], sums[0, 1], sums[0, 2], sums[0, 3]
    s10, s11, s12, s13 = sums[1, 0], sums[1, 1], sums[1, 2], sums[1, 3]
    s20, s21, s22, s23 = sums[2, 0], sums[2, 1], sums[2, 2], sums[2, 3]
    s30, s31, s32, s33 = sums[3, 0], sums[3, 1], sums[3, 2], sums[3, 3]
    for p in range(e0.size):
        a, b, c, d = e0[p], e1[p], e2[p], e3[p]
        v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
        s00 += a * v0
        s01 += a * v1
        s02 += a * v2
        s03 += a * v3
        s10 += b * v0
        s11 += b * v1
        s12 += b * v2
        s13 += b * v3
        s20 += c * v0
        s21 += c * v1
        s22 += c * v2
        s23 += c * v3
        s30 += d * v0
        s31 += d * v1
        s32 += d * v2
        s33 += d * v3
    sums[0, 0], sums[0, 1], sums[0, 2], sums[0, 3] = s00, s01, s02, s03
    sums[1, 0], sums[1, 1], sums[1, 2], sums[1, 3] = s10, s11, s12, s13
    sums[2, 0], sums[2, 1], sums[2, 2], sums[2, 3] = s20, s21, s22, s23
    sums[3, 0], sums[3, 1], sums[3, 2], sums[3, 3] = s30, s31, s32, s33


def conv2d_grad_weights(xp, err, stride_y, stride_x, grad_w, grad_b):
    """Gradients of :func:`conv2d_forward` with respect to weights and bias.

    A plain Python function that calls one of two compiled kernels by the
    column stride: compiled as one kernel, both branches would be compiled
    on first use, seconds of a first run for code that a network with unit
    strides (LeNet) never executes.

    Each task owns a fixed block of ``grad_w`` and sums over the whole
    batch and every output pixel in a fixed order, so threads never write
    to the same element and the result does not depend on the number of
    threads.

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
    kernel, args = conv2d_grad_weights.compiled_call(xp, err, stride_y, stride_x, grad_w, grad_b)
    kernel(*args)


def _by_column_stride(unit_stride_kernel):
    """The choice of a weight-gradient function between two compiled kernels.

    Returns ``choose(xp, err, stride_y, stride_x, grad_w, grad_b)``, which
    gives ``unit_stride_kernel`` at unit column stride and the strided
    kernel otherwise, with the arguments each takes.  A weight-gradient
    function keeps it as its attribute ``compiled_call``, which also names
    the compiled kernel behind the Python function for callers that
    compile a step's kernels before running it (``fastlayers.precompile``)
    or run small work on a kernel's one-thread twin.
    """

    def choose(xp, err, stride_y, stride_x, grad_w, grad_b):
        if stride_x == 1:
            return unit_stride_kernel, (xp, err, stride_y, grad_w, grad_b)
        return _grad_weights_strided, (xp, err, stride_y, stride_x, grad_w, grad_b)

    return choose


@kernel(parallel=True)
def _grad_weights_unit_stride_x(xp, err, stride_y, grad_w, grad_b):
    # With unit column stride, the input that tap (c, i, j) meets along one
    # output row, xp[c, oy * sy + i, j : j + ow, :], is one contiguous run
    # of ow * b values, like the error row err[k, oy] it multiplies.  Each
    # task takes four kernels and four taps (any four of the flattened
    # (c, i, j), whose runs differ only by an offset), the register block
    # of _weight_gradient_block.
    n_kern, out_h, out_w, n_batch = err.shape
    n_chan, padded_h, padded_w = xp.shape[0], xp.shape[1], xp.shape[2]
    k_h, k_w = grad_w.shape[2], grad_w.shape[3]
    tap_rows = _tap_rows(n_chan, k_h, k_w, padded_h, padded_w)
    n_taps = tap_rows.size
    x_flat = xp.reshape(xp.size)
    e_rows = err.reshape(n_kern, out_h, out_w * n_batch)
    gw_flat = grad_w.reshape(n_kern, n_taps)
    run = out_w * n_batch
    n_kern_groups = (n_kern + 3) // 4
    n_tap_groups = (n_taps + 3) // 4
    for task in prange(n_kern_groups * n_tap_groups):
        k0 = (task // n_tap_groups) * 4
        t0 = (task % n_tap_groups) * 4
        # A short last group of kernels or taps repeats a valid index: the
        # duplicate sums are computed but not stored.
        k1 = min(k0 + 1, n_kern - 1)
        k2 = min(k0 + 2, n_kern - 1)
        k3 = min(k0 + 3, n_kern - 1)
        o0 = tap_rows[t0] * n_batch
        o1 = tap_rows[min(t0 + 1, n_taps - 1)] * n_batch
        o2 = tap_rows[min(t0 + 2, n_taps - 1)] * n_batch
        o3 = tap_rows[min(t0 + 3, n_taps - 1)] * n_batch
        sums = np.zeros((4, 4), grad_w.dtype)
        for oy in range(out_h):
            base = oy * stride_y * padded_w * n_batch
            # fmt: off
            _weight_gradient_block(
                e_rows[k0, oy], e_rows[k1, oy], e_rows[k2, oy], e_rows[k3, oy],
                x_flat[base + o0 : base + o0 + run], x_flat[base + o1 : base + o1 + run],
                x_flat[base + o2 : base + o2 + run], x_flat[base + o3 : base + o3 + run],
                sums,
            )
            # fmt: on
        for k in range(k0, min(k0 + 4, n_kern)):
            for t in range(t0, min(t0 + 4, n_taps)):
                gw_flat[k, t] = sums[k - k0, t - t0]
            if t0 == 0:
                grad_b[k] = err[k].sum()


@kernel(parallel=True)
def _grad_weights_strided(xp, err, stride_y, stride_x, grad_w, grad_b):
    # Any column stride: each task owns one kernel row grad_w[k, c, i, :]
    # and keeps one partial sum per (tap, batch lane), summed over the
    # lanes once at the end; four output pixels share each load and store.
    n_kern, out_h, out_w, n_batch = err.shape
    n_chan, k_h, k_w = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    for task in prange(n_kern * n_chan * k_h):
        k = task // (n_chan * k_h)
        c = (task // k_h) % n_chan
        i = task % k_h
        part = np.zeros((k_w, n_batch), dtype=grad_w.dtype)
        for oy in range(out_h):
            xrow = xp[c, oy * stride_y + i]
            erow = err[k, oy]
            ox = 0
            while ox + 4 <= out_w:
                e0 = erow[ox]
                e1 = erow[ox + 1]
                e2 = erow[ox + 2]
                e3 = erow[ox + 3]
                for j in range(k_w):
                    x0 = xrow[ox * stride_x + j]
                    x1 = xrow[(ox + 1) * stride_x + j]
                    x2 = xrow[(ox + 2) * stride_x + j]
                    x3 = xrow[(ox + 3) * stride_x + j]
                    pj = part[j]
                    for b in range(n_batch):
                        pj[b] += e0[b] * x0[b] + e1[b] * x1[b] + e2[b] * x2[b] + e3[b] * x3[b]
                ox += 4
            while ox < out_w:
                e0 = erow[ox]
                for j in range(k_w):
                    x0 = xrow[ox * stride_x + j]
                    pj = part[j]
                    for b in range(n_batch):
                        pj[b] += e0[b] * x0[b]
                ox += 1
        for j in range(k_w):
            grad_w[k, c, i, j] = part[j].sum()
    for k in prange(n_kern):
        grad_b[k] = err[k].sum()


conv2d_grad_weights.compiled_call = _by_column_stride(_grad_weights_unit_stride_x)
