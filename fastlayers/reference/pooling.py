"""Max pooling with plain Python loops over the windows."""

import numpy as np

from .._validation import as_float_array, called_before, check_ndim, check_shape, pair
from ..base import BaseLayer


class MaxPoolLayer(BaseLayer):
    """Max pooling without padding.

    Parameters
    ----------
    neighborhood : int or (int, int)
        Window size ``(py, px)``.
    stride : int or (int, int)
        Step ``(sy, sx)`` between windows.

    Notes
    -----
    Output size is ``(h - py) // sy + 1`` by ``(w - px) // sx + 1``.  Ties go
    to the first maximum in row-major order within the window (as
    ``np.argmax``); backward sums the error where windows overlap.
    """

    def __init__(self, neighborhood=(2, 2), stride=(2, 2)):
        super().__init__()
        self.neighborhood = pair(neighborhood, self.name, "neighborhood")
        self.stride = pair(stride, self.name, "stride")
        self._x_shape = None
        self._argmax = None

    def output_shape(self, input_shape):
        """Return the output shape ``(b, c, oh, ow)`` for an input shape."""
        b, c, h, w = input_shape
        (py, px), (sy, sx) = self.neighborhood, self.stride
        return (b, c, (h - py) // sy + 1, (w - px) // sx + 1)

    def forward(self, x):
        """Return the maximum of every window of ``x`` ``(b, c, h, w)``."""
        x = as_float_array(x, self.name)
        check_ndim(x, 4, self.name, "input", "(batch, channels, height, width)")
        (py, px), (sy, sx) = self.neighborhood, self.stride
        if x.shape[2] < py or x.shape[3] < px:
            raise ValueError(
                f"{self.name}: expected an input at least as large as the neighborhood "
                f"{(py, px)}, got spatial size {x.shape[2:]}"
            )
        out_shape = self.output_shape(x.shape)
        out = np.empty(out_shape, dtype=x.dtype)
        # Row and column (in the input) of each window's maximum.
        argmax = np.empty(out_shape + (2,), dtype=np.intp)
        for b in range(out_shape[0]):
            for c in range(out_shape[1]):
                for i in range(out_shape[2]):
                    for j in range(out_shape[3]):
                        window = x[b, c, i * sy : i * sy + py, j * sx : j * sx + px]
                        r, q = np.unravel_index(np.argmax(window), window.shape)
                        argmax[b, c, i, j] = (i * sy + r, j * sx + q)
                        out[b, c, i, j] = window[r, q]
        self._x_shape = x.shape
        self._argmax = argmax
        return out

    def backward(self, error):
        """Route each error to its window's maximum, summing on overlap."""
        called_before(self._argmax, self.name)
        error = as_float_array(error, self.name, "error")
        check_shape(error, self._argmax.shape[:4], self.name, "error")
        dx = np.zeros(self._x_shape, dtype=error.dtype)
        for b in range(error.shape[0]):
            for c in range(error.shape[1]):
                for i in range(error.shape[2]):
                    for j in range(error.shape[3]):
                        r, q = self._argmax[b, c, i, j]
                        dx[b, c, r, q] += error[b, c, i, j]
        return dx
