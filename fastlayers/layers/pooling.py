"""Max and average pooling, on the functional tier."""

import numpy as np

from .. import functional as F
from .._validation import as_float_array, called_before
from .._validation import ties as check_ties
from ..base import PoolingLayer


class MaxPoolLayer(PoolingLayer):
    """Max pooling over ``neighborhood`` windows moved by ``stride``.

    Parameters
    ----------
    neighborhood : int or (int, int), default (2, 2)
        Window size (py, px).
    stride : int or (int, int), default (2, 2)
        Step between windows (sy, sx); smaller than the window means
        overlapping windows.
    ties : {"first", "all", "split"}, default "first"
        Which elements of a window whose maximum occurs more than once
        receive its error in ``backward``: only the first in row-major
        order, every one the full error, or every one an equal share.

    Notes
    -----
    There is no padding: the output is ``(h - py) // sy + 1`` by
    ``(w - px) // sx + 1``.  Where windows overlap, the errors an element
    receives are summed.  One early version of the tutorial's pooling test
    passed the stride first positionally; this class keeps the order of the
    tutorial's text, ``(neighborhood, stride)``, so pass them by keyword to
    be safe.
    """

    def __init__(self, neighborhood=(2, 2), stride=(2, 2), *, ties="first"):
        super().__init__(neighborhood, stride)
        self.ties = check_ties(ties, self.name)

    def forward(self, x):
        """Pool ``x`` (b, c, h, w) and remember where each maximum was."""
        out, indices = F.max_pool2d(x, self.neighborhood, self.stride, caller=self.name)
        # Finding ties in backward needs the input: a private copy, so that
        # the caller may change its own array in between.
        kept = None if self.ties == "first" else np.array(x, dtype=out.dtype, copy=True)
        self._cache = (indices, (out.shape[0], out.shape[1], *np.shape(x)[2:]), out.dtype, kept)
        return out

    def backward(self, error):
        """Route ``error`` to the maxima of the last forward pass."""
        called_before(self._cache, self.name)
        indices, in_shape, dtype, x = self._cache
        return F.max_pool2d_backward(
            _as(error, dtype, self.name),
            indices,
            in_shape,
            ties=self.ties,
            x=x,
            window=self.neighborhood,
            stride=self.stride,
            caller=self.name,
        )


class AvgPoolLayer(PoolingLayer):
    """Average pooling over ``neighborhood`` windows moved by ``stride``.

    ``neighborhood`` and ``stride`` are those of :class:`MaxPoolLayer`
    (window and step, (2, 2) by default; a step smaller than the window
    means overlapping windows), and there is no padding either.
    ``backward`` gives every element of a window an equal share of its
    error, summed where windows overlap.
    """

    def __init__(self, neighborhood=(2, 2), stride=(2, 2)):
        super().__init__(neighborhood, stride)

    def forward(self, x):
        """Average ``x`` (b, c, h, w) over every window."""
        out = F.avg_pool2d(x, self.neighborhood, self.stride, caller=self.name)
        self._cache = ((out.shape[0], out.shape[1], *np.shape(x)[2:]), out.dtype)
        return out

    def backward(self, error):
        """Spread ``error`` evenly over the windows of the last forward pass."""
        called_before(self._cache, self.name)
        in_shape, dtype = self._cache
        return F.avg_pool2d_backward(
            _as(error, dtype, self.name),
            in_shape,
            self.neighborhood,
            self.stride,
            caller=self.name,
        )


def _as(error, dtype, name):
    # The error computes in the dtype of the forward pass, as in every layer.
    return as_float_array(error, name, "error").astype(dtype, copy=False)
