"""Inverted dropout with the tutorial's unscaled backward."""

import numpy as np

from .._random import dropout_mask
from .._validation import (
    as_float_array,
    called_before,
    check_empty_axes,
    check_shape,
    fraction,
)
from ..base import BaseLayer, Phase


class DropOut(BaseLayer):
    """Zero each activation with chance ``probability`` during training.

    Parameters
    ----------
    probability : float
        Chance, in [0, 1], that an activation is set to zero.
    scale_backward : bool, optional
        ``False`` (default, the tutorial's test) multiplies the error by the
        0/1 mask only; ``True`` also divides by ``1 - probability``, which
        is the exact gradient of the forward pass.

    Notes
    -----
    Training: ``x * mask / (1 - probability)`` with the mask of
    :func:`fastlayers._random.dropout_mask` (shared with the fast layer so
    that both draw the same mask from the same random state).
    ``Phase.test``: the identity.  An empty batch gives an empty output.
    """

    def __init__(self, probability, *, scale_backward=False):
        super().__init__()
        self.probability = fraction(probability, self.name)
        self.scale_backward = bool(scale_backward)
        self._mask = None

    def forward(self, x):
        """Drop and rescale activations (train) or return ``x`` (test)."""
        x = as_float_array(x, self.name)
        check_empty_axes(x, self.name)
        if self.phase == Phase.test:
            self._mask = None
            return x
        mask = dropout_mask(x.shape, self.probability)
        self._mask = mask
        if self.probability == 1.0:
            # Nothing survives; avoid 0/0.
            return np.zeros_like(x)
        return x * mask / (1.0 - self.probability)

    def backward(self, error):
        """Return ``error * mask`` (train) or ``error`` (test)."""
        error = as_float_array(error, self.name, "error")
        if self.phase == Phase.test:
            return error
        called_before(self._mask, self.name)
        check_shape(error, self._mask.shape, self.name, "error")
        if not self.scale_backward:
            return error * self._mask
        if self.probability == 1.0:
            return np.zeros_like(error)
        return error * self._mask / (1.0 - self.probability)
