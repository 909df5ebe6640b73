"""Max pooling that records where each maximum came from."""

from numba import prange

from ._jit import kernel


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
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        plane = x[b, c]
        for oy in range(out_h):
            y0 = oy * stride_y
            best = out[b, c, oy]
            where = argmax[b, c, oy]
            src = plane[y0]
            for ox in range(out_w):
                best[ox] = src[ox * stride_x]
                where[ox] = y0 * width + ox * stride_x
            # One window tap at a time across the whole output row: the
            # loop over ox has no branches (the comparison becomes a
            # select), and scanning taps in row-major order keeps the
            # first maximum on ties.
            for i in range(pool_h):
                src = plane[y0 + i]
                for j in range(pool_w):
                    if i == 0 and j == 0:
                        continue
                    tap = (y0 + i) * width + j
                    for ox in range(out_w):
                        v = src[ox * stride_x + j]
                        current = best[ox]
                        # The first NaN wins and nothing beats it afterwards.
                        take = (v > current) | ((v != v) & (current == current))
                        best[ox] = v if take else current
                        where[ox] = tap + ox * stride_x if take else where[ox]


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
    width = dx.shape[3]
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        plane = dx[b, c]
        plane[:, :] = 0
        for oy in range(out_h):
            for ox in range(out_w):
                where = argmax[b, c, oy, ox]
                plane[where // width, where % width] += err[b, c, oy, ox]
