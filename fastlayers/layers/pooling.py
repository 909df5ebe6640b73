"""Max pooling, on the numba kernels."""

import numpy as np

from .. import kernels
from ..parallel import serialised
from .._validation import as_float_array, called_before, check_ndim, check_shape, kernel_ready, pair
from ..base import BaseLayer


class MaxPoolLayer(BaseLayer):
    """Max pooling over ``neighborhood`` windows moved by ``stride``.

    Parameters
    ----------
    neighborhood : int or (int, int), default (2, 2)
        Window size (py, px).
    stride : int or (int, int), default (2, 2)
        Step between windows (sy, sx); smaller than the window means
        overlapping windows.

    Notes
    -----
    There is no padding: the output is ``(h - py) // sy + 1`` by
    ``(w - px) // sx + 1``.  Ties go to the first maximum in row-major order
    and only that element receives the error; where windows overlap, the
    errors an element receives are summed.  One early version of the
    tutorial's pooling test passed the stride first positionally; this
    class keeps the order of the tutorial's text, ``(neighborhood,
    stride)``, so pass them by keyword to be safe.
    """

    def __init__(self, neighborhood=(2, 2), stride=(2, 2)):
        super().__init__()
        self.neighborhood = pair(neighborhood, self.name, "neighborhood")
        self.stride = pair(stride, self.name, "stride")
        self._cache = None

    def output_shape(self, input_shape):
        """Shape of the output for an input of shape (b, c, h, w)."""
        b, c, h, w = input_shape
        (py, px), (sy, sx) = self.neighborhood, self.stride
        return b, c, (h - py) // sy + 1, (w - px) // sx + 1

    @serialised
    def forward(self, x):
        """Pool ``x`` (b, c, h, w) and remember where each maximum was."""
        x = as_float_array(x, self.name)
        check_ndim(x, 4, self.name, "input", "(batch, channels, rows, columns)")
        if min(x.shape) < 1:
            raise ValueError(f"{self.name}: expected a non-empty input, got shape {x.shape}")
        py, px = self.neighborhood
        if x.shape[2] < py or x.shape[3] < px:
            raise ValueError(
                f"{self.name}: expected an input at least as large as the {py}x{px} window, "
                f"got spatial size {x.shape[2:]}"
            )
        x = kernel_ready(x, x.dtype)
        out_shape = self.output_shape(x.shape)
        out = np.empty(out_shape, x.dtype)
        argmax = np.empty(out_shape, np.intp)
        kernels.maxpool2d_forward(x, py, px, *self.stride, out, argmax)
        self._cache = (argmax, x.shape, x.dtype)
        return out

    @serialised
    def backward(self, error):
        """Route ``error`` to the maxima of the last forward pass."""
        called_before(self._cache, self.name)
        argmax, in_shape, dtype = self._cache
        error = as_float_array(error, self.name, "error")
        check_shape(error, argmax.shape, self.name, "error")
        dx = np.empty(in_shape, dtype)
        kernels.maxpool2d_backward(kernel_ready(error, dtype), argmax, dx)
        return dx
