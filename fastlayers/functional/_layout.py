"""The batch-innermost layout that the convolution and pooling kernels share.

The kernels work on ``(channels, rows, columns, batch)`` arrays.  A
function of this tier that produces such an array hands it to the caller
as an NCHW-shaped view, ``t.transpose(3, 0, 1, 2)``: shape, indexing and
values are those of NCHW, only the strides differ.  When that view comes
back as the input (or error) of the next convolution, ReLU or max
pooling, :func:`batch_innermost` finds the array behind it and no layout
conversion runs between layers.  Any other array is converted once.
"""

import math

import numpy as np

from .. import kernels
from .._validation import kernel_ready
from ..parallel import launch
from ._common import SERIAL_ELEMENTS

# Arrays from this size up start on a cache line (64 bytes): the register-
# blocked convolution kernels load whole cache lines, and on NumPy's 16-byte
# alignment most of their loads would span two.  Finding an array's address
# costs about a microsecond, more than small arrays are worth.
ALIGN_FROM_BYTES = 1 << 16


CACHE_LINE = 64


def empty(shape, dtype):
    """A new uninitialised C-contiguous array, cache-line aligned when large.

    The kernels accept any C-contiguous array; aligned ones make the
    blocked convolutions faster (10-40%).
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < ALIGN_FROM_BYTES:
        return np.empty(shape, dtype)
    buffer = np.empty(nbytes + CACHE_LINE, np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE
    return buffer[start : start + nbytes].view(dtype).reshape(shape)


def batch_innermost(x, dtype):
    """The C-contiguous, writeable (c, h, w, b) array of ``dtype`` behind ``x``, or None.

    ``x`` is an NCHW-shaped array; it has such an array behind it when it
    is (a view equal to) ``t.transpose(3, 0, 1, 2)``.  A batch of one
    C-contiguous NCHW array is one too: its memory order is the same.
    """
    if x.ndim != 4 or x.dtype != dtype:
        return None
    t = x.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous and t.flags.writeable:
        return t
    return None


def nchw_view(t):
    """The NCHW-shaped view (b, c, h, w) of a batch-innermost array ``t``."""
    return t.transpose(3, 0, 1, 2)


def to_batch_innermost(x, dtype, top=0, bottom=0, left=0, right=0, *, copy=False):
    """``x`` (b, c, h, w) as a (c, h + top + bottom, w + left + right, b) array.

    Without padding and ``copy``, the array behind ``x`` is returned as it
    is when there is one (the caller must not write into it); otherwise a
    new zero-padded array.
    """
    t = batch_innermost(x, dtype)
    if t is not None and not (copy or top or bottom or left or right):
        return t
    if t is not None:
        return padded_copy(t, top, bottom, left, right)
    b, c, h, w = x.shape
    out = empty((c, h + top + bottom, w + left + right, b), dtype)
    launch(kernels.nchw_to_chwb, out.size < SERIAL_ELEMENTS, kernel_ready(x, dtype), top, left, out)
    return out


def padded_copy(t, top=0, bottom=0, left=0, right=0):
    """A new zero-padded copy of the batch-innermost array ``t``."""
    c, h, w, b = t.shape
    out = empty((c, h + top + bottom, w + left + right, b), t.dtype)
    launch(kernels.pad_chwb, out.size < SERIAL_ELEMENTS, t, top, left, out)
    return out


def to_nchw(t, out):
    """Write the batch-innermost array ``t`` into the C-contiguous NCHW ``out``."""
    launch(kernels.chwb_to_nchw, t.size < SERIAL_ELEMENTS, t, out)
    return out
