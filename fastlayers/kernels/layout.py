"""Conversions between NCHW and the batch-innermost CHWB layout.

The convolution kernels work on ``(channels, rows, columns, batch)`` arrays:
their innermost loop then runs over the batch, which is contiguous, as long
as a SIMD register and independent of the stride, and has no branches.
"""

from numba import prange

from ._jit import kernel


@kernel
def _pad_row(row, y, height, pad_left, width):
    # Zero the padding of one row (w + pads, b) of a padded batch-innermost
    # array, holding input row y (if 0 <= y < height) from column pad_left
    # on; True when the whole row is padding and nothing is left to copy.
    if y < 0 or y >= height:
        row[:, :] = 0
        return True
    row[:pad_left, :] = 0
    row[pad_left + width :, :] = 0
    return False


@kernel(parallel=True)
def nchw_to_chwb(x, pad_top, pad_left, out):
    """Copy ``x`` (b, c, h, w) into ``out`` (c, h + pads, w + pads, b).

    ``out[c, pad_top + y, pad_left + x, b] = x[b, c, y, x]``; every other
    element of ``out`` (the zero padding) is set to zero.
    """
    n_batch, n_chan, height, width = x.shape
    padded_h = out.shape[1]
    for task in prange(n_chan * padded_h):
        c = task // padded_h
        yp = task % padded_h
        y = yp - pad_top
        row = out[c, yp]
        if _pad_row(row, y, height, pad_left, width):
            continue
        for b in range(n_batch):
            src = x[b, c, y]
            for xx in range(width):
                row[pad_left + xx, b] = src[xx]


@kernel(parallel=True)
def chwb_to_nchw(src, out):
    """Copy ``src`` (c, h, w, b) into ``out`` (b, c, h, w)."""
    n_batch, n_chan, height, width = out.shape
    for task in prange(n_chan * height):
        c = task // height
        y = task % height
        row = src[c, y]
        for b in range(n_batch):
            dst = out[b, c, y]
            for xx in range(width):
                dst[xx] = row[xx, b]


@kernel(parallel=True)
def pad_chwb(src, pad_top, pad_left, out):
    """Copy ``src`` (c, h, w, b) into ``out`` (c, h + pads, w + pads, b) with zero padding.

    ``out[c, pad_top + y, pad_left + x, b] = src[c, y, x, b]``; every other
    element of ``out`` is set to zero.  Both arrays are batch-innermost, so
    each row is one contiguous copy: no transposing.
    """
    n_chan, height, width, n_batch = src.shape
    padded_h = out.shape[1]
    for task in prange(n_chan * padded_h):
        c = task // padded_h
        yp = task % padded_h
        y = yp - pad_top
        row = out[c, yp]
        if _pad_row(row, y, height, pad_left, width):
            continue
        src_row = src[c, y]
        for xx in range(width):
            dst = row[pad_left + xx]
            line = src_row[xx]
            for b in range(n_batch):
                dst[b] = line[b]
