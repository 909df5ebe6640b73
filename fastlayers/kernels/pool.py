"""Max and average pooling; max pooling records where each maximum came from.

Max pooling runs its comparisons across the batch.  On the
batch-innermost (c, h, w, b) layout that the convolution layers hand on
(``*_chwb``), every tap of a window is already a contiguous vector over
the batch.  On NCHW arrays a task first copies the input rows of one
output row of one channel, for every image, into a small batch-innermost
buffer.  Either way the compare-and-select per element has no branches
and vectorises; on NCHW rows the same select is scalar (the columns are
strided), and LLVM turns it into a branch that random data mispredicts
half of the time.
"""

import numpy as np
from numba import prange

from ._jit import kernel


@kernel
def _takes(v, current):
    # Whether a tap's value v replaces the window's maximum so far: bigger,
    # or NaN (not <=), unless a NaN is held already, so that the first NaN
    # wins and propagates.  Spelled so, LLVM turns the select into vector
    # code; (v > current) | ((v != v) & (current == current)), the same
    # rule, it left scalar.
    return (not (v <= current)) & (current == current)


@kernel(parallel=True)
def maxpool2d_forward(x, pool_h, pool_w, stride_y, stride_x, out, argmax):
    """Max over (possibly overlapping) windows of an NCHW array.

    Parameters
    ----------
    x : ndarray, shape (b, c, h, w)
    pool_h, pool_w : int
        Window size.
    stride_y, stride_x : int
    out : ndarray, shape (b, c, oh, ow)
        ``oh = (h - pool_h) // stride_y + 1``, likewise ``ow``.  Written in
        full.
    argmax : ndarray of int, shape (b, c, oh, ow)
        Written in full: the flat index ``y * w + x`` within its plane of
        the element each maximum was taken from.  Ties go to the first
        element in row-major order, as with ``numpy.argmax``; a NaN in a
        window wins, so NaN propagates.
    """
    n_batch, n_chan, out_h, out_w = out.shape
    width = x.shape[3]
    # A task takes up to LANES images of one channel, all output rows: it
    # writes whole output planes, so threads never share a cache line
    # (adjacent output rows would, and that costs more than the work).
    lanes = 32
    n_groups = (n_batch + lanes - 1) // lanes
    for task in prange(n_chan * n_groups):
        c = task // n_groups
        b0 = (task % n_groups) * lanes
        nb = min(lanes, n_batch - b0)
        # rows[i, xx, b] = x[b0 + b, c, y0 + i, xx]: one window row band,
        # batch innermost.
        rows = np.empty((pool_h, width, nb), x.dtype)
        best = np.empty(nb, x.dtype)
        where = np.empty(nb, np.intp)
        for oy in range(out_h):
            y0 = oy * stride_y
            for b in range(nb):
                for i in range(pool_h):
                    src = x[b0 + b, c, y0 + i]
                    for xx in range(width):
                        rows[i, xx, b] = src[xx]
            for ox in range(out_w):
                x0 = ox * stride_x
                first = rows[0, x0]
                for b in range(nb):
                    best[b] = first[b]
                    where[b] = y0 * width + x0
                # Taps in row-major order keep the first maximum on ties.
                for i in range(pool_h):
                    for j in range(pool_w):
                        v_row = rows[i, x0 + j]
                        tap = (y0 + i) * width + x0 + j
                        for b in range(nb):
                            v = v_row[b]
                            current = best[b]
                            take = _takes(v, current)
                            best[b] = v if take else current
                            where[b] = tap if take else where[b]
                for b in range(nb):
                    out[b0 + b, c, oy, ox] = best[b]
                    argmax[b0 + b, c, oy, ox] = where[b]


@kernel(parallel=True)
def maxpool2d_backward(err, argmax, dx):
    """Route the error of each window to the element that won it.

    Where windows overlap, the errors that reach one element are summed.

    Parameters
    ----------
    err : ndarray, shape (b, c, oh, ow)
    argmax : ndarray of int, shape (b, c, oh, ow)
        As written by :func:`maxpool2d_forward`.
    dx : ndarray, shape (b, c, h, w)
        Written in full.
    """
    n_batch, n_chan, out_h, out_w = err.shape
    plane_size = dx.shape[2] * dx.shape[3]
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        # The flat in-plane index needs no division into row and column.
        plane = dx[b, c].reshape(plane_size)
        plane[:] = 0
        for oy in range(out_h):
            for ox in range(out_w):
                plane[argmax[b, c, oy, ox]] += err[b, c, oy, ox]


@kernel
def _maxpool_planes(x, pool_h, pool_w, stride_y, stride_x, out, argmax):
    # maxpool2d_forward_chwb of one image, on (c, h, w) planes: the loops
    # run along output rows.  The common 2x2 window at stride 2 is spelled
    # out, so that the maximum stays in registers over its four taps.
    n_chan, out_h, out_w = out.shape
    width = x.shape[2]
    for c in range(n_chan):
        for oy in range(out_h):
            y0 = oy * stride_y
            best = out[c, oy]
            where = argmax[c, oy]
            if pool_h == 2 and pool_w == 2 and stride_x == 2:
                r0 = x[c, y0]
                r1 = x[c, y0 + 1]
                for ox in range(out_w):
                    m = r0[2 * ox]
                    at = y0 * width + 2 * ox
                    # Taps in row-major order.
                    v = r0[2 * ox + 1]
                    take = _takes(v, m)
                    m = v if take else m
                    at = y0 * width + 2 * ox + 1 if take else at
                    v = r1[2 * ox]
                    take = _takes(v, m)
                    m = v if take else m
                    at = (y0 + 1) * width + 2 * ox if take else at
                    v = r1[2 * ox + 1]
                    take = _takes(v, m)
                    m = v if take else m
                    at = (y0 + 1) * width + 2 * ox + 1 if take else at
                    best[ox] = m
                    where[ox] = at
                continue
            first = x[c, y0]
            for ox in range(out_w):
                best[ox] = first[ox * stride_x]
                where[ox] = y0 * width + ox * stride_x
            for i in range(pool_h):
                line = x[c, y0 + i]
                for j in range(pool_w):
                    tap = (y0 + i) * width + j
                    for ox in range(out_w):
                        v = line[ox * stride_x + j]
                        current = best[ox]
                        take = _takes(v, current)
                        best[ox] = v if take else current
                        where[ox] = tap + ox * stride_x if take else where[ox]


@kernel(parallel=True)
def maxpool2d_forward_chwb(x, pool_h, pool_w, stride_y, stride_x, out, argmax):
    """:func:`maxpool2d_forward` on the batch-innermost layout.

    Parameters
    ----------
    x : ndarray, shape (c, h, w, b)
    pool_h, pool_w, stride_y, stride_x : int
    out : ndarray, shape (c, oh, ow, b)
        Written in full.
    argmax : ndarray of int, shape (c, oh, ow, b)
        Written in full: the flat index ``y * w + x`` within its plane, as
        :func:`maxpool2d_forward` writes it (first maximum on ties, NaN
        wins).

    Every tap of a window is a contiguous vector over the batch, so the
    compare-and-select runs across the batch with no copy of the input.
    """
    n_chan, out_h, out_w, n_batch = out.shape
    width = x.shape[2]
    if n_batch == 1:
        # One image: the loops over the batch would have nothing to
        # vectorise.  (Small work: one thread.)
        _maxpool_planes(
            x.reshape((n_chan, x.shape[1], width)),
            pool_h,
            pool_w,
            stride_y,
            stride_x,
            out.reshape((n_chan, out_h, out_w)),
            argmax.reshape((n_chan, out_h, out_w)),
        )
        return
    # A task writes one output row of one channel: ow * b contiguous
    # elements, far more than a cache line.
    for task in prange(n_chan * out_h):
        c = task // out_h
        oy = task % out_h
        y0 = oy * stride_y
        for ox in range(out_w):
            x0 = ox * stride_x
            best = out[c, oy, ox]
            where = argmax[c, oy, ox]
            first = x[c, y0, x0]
            start = y0 * width + x0
            for b in range(n_batch):
                best[b] = first[b]
                where[b] = start
            # Taps in row-major order keep the first maximum on ties.
            for i in range(pool_h):
                for j in range(pool_w):
                    v_row = x[c, y0 + i, x0 + j]
                    tap = (y0 + i) * width + x0 + j
                    for b in range(n_batch):
                        v = v_row[b]
                        current = best[b]
                        take = _takes(v, current)
                        best[b] = v if take else current
                        where[b] = tap if take else where[b]


@kernel(parallel=True)
def maxpool2d_backward_chwb(err, argmax, dx):
    """:func:`maxpool2d_backward` on the batch-innermost layout.

    Parameters
    ----------
    err : ndarray, shape (c, oh, ow, b)
    argmax : ndarray of int, shape (c, oh, ow, b)
        As written by :func:`maxpool2d_forward_chwb`.
    dx : ndarray, shape (c, h, w, b)
        Written in full; where windows overlap, the errors that reach one
        element are summed.
    """
    n_chan, out_h, out_w, n_batch = err.shape
    plane_size = dx.shape[1] * dx.shape[2]
    for c in prange(n_chan):
        # (h * w, b): the flat in-plane index picks a row, the image a column.
        plane = dx[c].reshape((plane_size, n_batch))
        plane[:, :] = 0
        for oy in range(out_h):
            for ox in range(out_w):
                e = err[c, oy, ox]
                where = argmax[c, oy, ox]
                for b in range(n_batch):
                    plane[where[b], b] += e[b]


@kernel(parallel=True)
def maxpool2d_backward_ties(x, argmax, err, pool_h, pool_w, stride_y, stride_x, split, dx):
    """Route the error of each window to every element tied for its maximum.

    A window's maximum is ``x`` at the position ``argmax`` recorded by
    :func:`maxpool2d_forward`; every element of the window equal to it
    receives the window's error (``split`` False), or an equal share of it
    (``split`` True).  A NaN maximum equals nothing, so only the element it
    was taken from receives the error.  Where windows overlap, the errors
    that reach one element are summed.

    Parameters
    ----------
    x : ndarray, shape (b, c, h, w)
        The input of the forward pass.
    argmax : ndarray of int, shape (b, c, oh, ow)
    err : ndarray, shape (b, c, oh, ow)
    pool_h, pool_w, stride_y, stride_x : int
        As in the forward pass.
    split : bool
    dx : ndarray, shape (b, c, h, w)
        Written in full.
    """
    n_batch, n_chan, out_h, out_w = err.shape
    width = x.shape[3]
    plane_size = x.shape[2] * width
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        plane = dx[b, c].reshape(plane_size)
        plane[:] = 0
        src = x[b, c]
        src_flat = src.reshape(plane_size)
        for oy in range(out_h):
            y0 = oy * stride_y
            for ox in range(out_w):
                x0 = ox * stride_x
                e = err[b, c, oy, ox]
                where = argmax[b, c, oy, ox]
                best = src_flat[where]
                if best != best:
                    plane[where] += e
                    continue
                if split:
                    count = 0
                    for i in range(pool_h):
                        for j in range(pool_w):
                            if src[y0 + i, x0 + j] == best:
                                count += 1
                    e = e / count
                for i in range(pool_h):
                    for j in range(pool_w):
                        if src[y0 + i, x0 + j] == best:
                            plane[(y0 + i) * width + x0 + j] += e


@kernel(parallel=True)
def avgpool2d_forward(x, pool_h, pool_w, stride_y, stride_x, out):
    """Mean over (possibly overlapping) windows of an NCHW array.

    Parameters
    ----------
    x : ndarray, shape (b, c, h, w)
    pool_h, pool_w, stride_y, stride_x : int
    out : ndarray, shape (b, c, oh, ow)
        ``oh = (h - pool_h) // stride_y + 1``, likewise ``ow``.  Written in
        full.
    """
    n_batch, n_chan, out_h, out_w = out.shape
    scale = 1.0 / (pool_h * pool_w)
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        src = x[b, c]
        dst = out[b, c]
        for oy in range(out_h):
            y0 = oy * stride_y
            row = dst[oy]
            row[:] = 0
            # Window rows in turn, each a strided sum along the output row.
            for i in range(pool_h):
                line = src[y0 + i]
                for ox in range(out_w):
                    x0 = ox * stride_x
                    s = line[x0]
                    for j in range(1, pool_w):
                        s += line[x0 + j]
                    row[ox] += s
            for ox in range(out_w):
                row[ox] *= scale


@kernel(parallel=True)
def avgpool2d_backward(err, pool_h, pool_w, stride_y, stride_x, dx):
    """Spread the error of each window evenly over its elements.

    Where windows overlap, the shares that reach one element are summed.

    Parameters
    ----------
    err : ndarray, shape (b, c, oh, ow)
    pool_h, pool_w, stride_y, stride_x : int
    dx : ndarray, shape (b, c, h, w)
        Written in full.
    """
    n_batch, n_chan, out_h, out_w = err.shape
    scale = 1.0 / (pool_h * pool_w)
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        plane = dx[b, c]
        plane[:, :] = 0
        src = err[b, c]
        for oy in range(out_h):
            y0 = oy * stride_y
            for ox in range(out_w):
                x0 = ox * stride_x
                share = src[oy, ox] * scale
                for i in range(pool_h):
                    line = plane[y0 + i]
                    for j in range(pool_w):
                        line[x0 + j] += share
