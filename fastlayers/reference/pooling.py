"""Max and average pooling with plain Python loops over the windows."""

import numpy as np

from .._validation import (
    as_float_array,
    called_before,
    check_empty_axes,
    check_ndim,
    check_shape,
)
from .._validation import ties as check_ties
from ..base import PoolingLayer


class _Pooling(PoolingLayer):
    # The input of the last forward pass is kept in ``_cache``.

    def _windows(self, x):
        """Check ``x`` and yield ``(index, rows, columns)`` of every window."""
        (py, px), (sy, sx) = self.neighborhood, self.stride
        out_shape = self.output_shape(x.shape)
        for index in np.ndindex(*out_shape):
            b, c, i, j = index
            yield index, slice(i * sy, i * sy + py), slice(j * sx, j * sx + px)

    def _check(self, x):
        x = as_float_array(x, self.name)
        check_ndim(x, 4, self.name, "input", "(batch, channels, height, width)")
        check_empty_axes(x, self.name)
        py, px = self.neighborhood
        if x.shape[2] < py or x.shape[3] < px:
            raise ValueError(
                f"{self.name}: expected an input at least as large as the neighborhood "
                f"{(py, px)}, got spatial size {x.shape[2:]}"
            )
        return x

    def _reduce_windows(self, x, reduce):
        """``reduce`` (``np.max``, ``np.mean``) of every window of ``x``; keeps ``x``."""
        x = self._check(x)
        out = np.empty(self.output_shape(x.shape), dtype=x.dtype)
        for index, rows, cols in self._windows(x):
            out[index] = reduce(x[index[0], index[1], rows, cols])
        self._cache = x.copy()
        return out

    def _error(self, error):
        called_before(self._cache, self.name)
        error = as_float_array(error, self.name, "error")
        check_shape(error, self.output_shape(self._cache.shape), self.name, "error")
        return error


class MaxPoolLayer(_Pooling):
    """Max pooling without padding.

    Parameters
    ----------
    neighborhood : int or (int, int)
        Window size ``(py, px)``.
    stride : int or (int, int)
        Step ``(sy, sx)`` between windows.
    ties : {"first", "all", "split"}
        Which maxima of a window receive its error when the maximum occurs
        more than once: the first in row-major order, all of them in full,
        or all of them an equal share.

    Notes
    -----
    Output size is ``(h - py) // sy + 1`` by ``(w - px) // sx + 1``.  The
    output is each window's ``np.max`` (NaN if the window holds one);
    backward sums the error where windows overlap.
    """

    def __init__(self, neighborhood=(2, 2), stride=(2, 2), *, ties="first"):
        super().__init__(neighborhood, stride)
        self.ties = check_ties(ties, self.name)

    def forward(self, x):
        """Return the maximum of every window of ``x`` ``(b, c, h, w)``."""
        return self._reduce_windows(x, np.max)

    def _receivers(self, window):
        """Boolean mask of the elements of ``window`` that receive its error."""
        first = np.zeros(window.shape, dtype=bool)
        first[np.unravel_index(np.argmax(window), window.shape)] = True
        top = window[first][0]
        if self.ties == "first" or np.isnan(top):
            return first
        return window == top

    def backward(self, error):
        """Route each error to its window's maxima, summing on overlap."""
        error = self._error(error)
        x = self._cache
        dx = np.zeros(x.shape, dtype=error.dtype)
        for index, rows, cols in self._windows(x):
            b, c = index[:2]
            mask = self._receivers(x[b, c, rows, cols])
            share = error[index] / mask.sum() if self.ties == "split" else error[index]
            dx[b, c, rows, cols] += np.where(mask, share, 0)
        return dx


class AvgPoolLayer(_Pooling):
    """Average pooling without padding, over the windows of :class:`MaxPoolLayer`.

    ``neighborhood`` is the window size ``(py, px)`` and ``stride`` the
    step ``(sy, sx)`` between windows, as for max pooling.
    """

    def __init__(self, neighborhood=(2, 2), stride=(2, 2)):
        super().__init__(neighborhood, stride)

    def forward(self, x):
        """Return the mean of every window of ``x`` ``(b, c, h, w)``."""
        return self._reduce_windows(x, np.mean)

    def backward(self, error):
        """Give every element of a window an equal share of its error."""
        error = self._error(error)
        x = self._cache
        py, px = self.neighborhood
        dx = np.zeros(x.shape, dtype=error.dtype)
        for index, rows, cols in self._windows(x):
            dx[index[0], index[1], rows, cols] += error[index] / (py * px)
        return dx
