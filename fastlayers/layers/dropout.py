"""Inverted dropout."""

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

# Importable from here as before; the draw is shared with the reference layer.
__all__ = ["DropOut", "dropout_mask"]


class DropOut(BaseLayer):
    """Set each activation to zero with probability ``probability``.

    In the training phase the survivors are scaled by
    ``1 / (1 - probability)`` (inverted dropout), so the test phase is the
    identity.  The mask comes from :func:`fastlayers._random.dropout_mask`.
    An empty batch gives an empty output and draws no mask.

    Parameters
    ----------
    probability : float
        Chance, in [0, 1], that an activation is dropped.
    scale_backward : bool, default False
        The tutorial's test demands that ``backward`` multiply the error by
        the 0/1 mask only, without the ``1 / (1 - probability)`` of the
        forward pass; that is the default.  ``True`` applies the factor
        too, which is the exact gradient of the forward pass.
    """

    def __init__(self, probability, *, scale_backward=False):
        super().__init__()
        self.probability = fraction(probability, self.name)
        self.scale_backward = bool(scale_backward)
        self._mask = None

    def forward(self, x):
        x = as_float_array(x, self.name)
        check_empty_axes(x, self.name)
        if self.phase == Phase.test:
            self._mask = None
            return x
        self._mask = dropout_mask(x.shape, self.probability)
        if self.probability == 1.0:
            return np.zeros_like(x)  # nothing survives; avoid 0 / 0
        return x * self._mask / x.dtype.type(1.0 - self.probability)

    def backward(self, error):
        error = as_float_array(error, self.name, "error")
        if self.phase == Phase.test:
            return error
        called_before(self._mask, self.name)
        check_shape(error, self._mask.shape, self.name, "error")
        if not self.scale_backward:
            return error * self._mask
        if self.probability == 1.0:
            return np.zeros_like(error)
        return error * self._mask / error.dtype.type(1.0 - self.probability)
