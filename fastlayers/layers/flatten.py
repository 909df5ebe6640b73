"""Reshape images to vectors and back."""

import math

from .._validation import as_float_array, called_before, check_empty_axes, check_shape
from ..base import BaseLayer


class FlattenLayer(BaseLayer):
    """(b, c, h, w) -> (b, c * h * w) in C order; ``backward`` undoes it.

    An empty batch (0, c, h, w) becomes (0, c * h * w); any other axis of
    length 0 is an error.
    """

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        x = as_float_array(x, self.name)
        if x.ndim < 1:
            raise ValueError(f"{self.name}: expected an input with a batch axis, got a scalar")
        check_empty_axes(x, self.name)
        self._shape = x.shape
        # Spelled out: reshape cannot infer -1 next to an empty batch.
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def backward(self, error):
        called_before(self._shape, self.name)
        error = as_float_array(error, self.name, "error")
        flat = (self._shape[0], math.prod(self._shape[1:]))
        check_shape(error, flat, self.name, "error")
        return error.reshape(self._shape)
