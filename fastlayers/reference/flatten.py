"""Flatten layer: (b, ...) to (b, features) and back."""

import numpy as np

from .._validation import as_float_array, called_before, check_empty_axes, check_shape
from ..base import BaseLayer


class FlattenLayer(BaseLayer):
    """Reshape ``(b, c, h, w)`` (or any ``(b, ...)``) to ``(b, c*h*w)`` in C order.

    An empty batch ``(0, c, h, w)`` becomes ``(0, c*h*w)``.
    """

    def __init__(self):
        super().__init__()
        self._shape = None

    def forward(self, x):
        """Return ``x`` reshaped to ``(b, -1)``."""
        x = as_float_array(x, self.name)
        if x.ndim < 1:
            raise ValueError(f"{self.name}: expected input with a batch axis, got a scalar")
        check_empty_axes(x, self.name)
        self._shape = x.shape
        # The feature count is spelled out: reshape cannot infer -1 for an empty batch.
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))

    def backward(self, error):
        """Return ``error`` reshaped to the input shape of the last forward."""
        called_before(self._shape, self.name)
        error = as_float_array(error, self.name, "error")
        features = int(np.prod(self._shape[1:], dtype=np.int64))
        check_shape(error, (self._shape[0], features), self.name, "error")
        return error.reshape(self._shape)
