"""Strided upsampling (zero insertion) and its inverse, on NCHW arrays.

The upsampling is the textbook backward of a strided convolution: the
error is spread onto the full-resolution grid with zeros in between.  The
convolution kernels avoid it (see :func:`.conv.conv2d_grad_input`); these
kernels serve users who build their own layers, and the tests.
"""

from numba import prange

from ._jit import kernel


@kernel(parallel=True)
def upsample_strided(x, stride_y, stride_x, out):
    """Insert zeros between the pixels of ``x``.

    ``out[b, c, oy * stride_y, ox * stride_x] = x[b, c, oy, ox]``; every
    other element of ``out`` is zero.  ``out`` has shape (b, c, h, w) with
    ``(oh - 1) * stride_y < h`` and ``(ow - 1) * stride_x < w``.
    """
    n_batch, n_chan, in_h, in_w = x.shape
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        plane = out[b, c]
        plane[:, :] = 0
        src = x[b, c]
        for oy in range(in_h):
            row = plane[oy * stride_y]
            for ox in range(in_w):
                row[ox * stride_x] = src[oy, ox]


@kernel(parallel=True)
def downsample_strided(x, stride_y, stride_x, out):
    """Keep every ``stride``-th pixel: the inverse of :func:`upsample_strided`.

    ``out[b, c, oy, ox] = x[b, c, oy * stride_y, ox * stride_x]`` for the
    full shape (b, c, oh, ow) of ``out``.
    """
    n_batch, n_chan, out_h, out_w = out.shape
    for task in prange(n_batch * n_chan):
        b = task // n_chan
        c = task % n_chan
        src = x[b, c]
        dst = out[b, c]
        for oy in range(out_h):
            for ox in range(out_w):
                dst[oy, ox] = src[oy * stride_y, ox * stride_x]
