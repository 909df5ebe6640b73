"""Element-wise activation functions: ReLU, Sigmoid and TanH."""

import numpy as np

from .._validation import as_float_array, called_before, check_empty_axes, check_shape
from ..base import BaseLayer


class _Activation(BaseLayer):
    """Shared bookkeeping: check the input, keep the forward state, check the error's shape.

    An empty batch gives an empty output; any other axis of length 0 is an
    error.  What backward needs is kept as a private copy, since the caller
    may write into the array it passed or received.
    """

    def __init__(self):
        super().__init__()
        self._state = None

    def _input(self, x):
        x = as_float_array(x, self.name)
        check_empty_axes(x, self.name)
        return x

    def _error(self, error):
        called_before(self._state, self.name)
        error = as_float_array(error, self.name, "error")
        check_shape(error, self._state.shape, self.name, "error")
        return error


class ReLU(_Activation):
    """Rectified linear unit ``max(x, 0)``."""

    def forward(self, x):
        """Return ``max(x, 0)`` element-wise."""
        x = self._input(x)
        self._state = x.copy()
        return np.maximum(x, 0)

    def backward(self, error):
        """Return ``error * (x > 0)`` (subgradient 0 at the kink)."""
        error = self._error(error)
        return error * (self._state > 0)


class Sigmoid(_Activation):
    """Logistic function ``1 / (1 + exp(-x))``."""

    def forward(self, x):
        """Return the sigmoid of ``x`` element-wise."""
        x = self._input(x)
        # exp of a non-positive number only, so large |x| cannot overflow.
        z = np.exp(-np.abs(x))
        s = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
        self._state = s.copy()
        return s

    def backward(self, error):
        """Return ``error * s * (1 - s)`` with ``s`` the forward output."""
        error = self._error(error)
        s = self._state
        return error * s * (1 - s)


class TanH(_Activation):
    """Hyperbolic tangent."""

    def forward(self, x):
        """Return ``tanh(x)`` element-wise."""
        x = self._input(x)
        t = np.tanh(x)
        self._state = t.copy()
        return t

    def backward(self, error):
        """Return ``error * (1 - t**2)`` with ``t`` the forward output."""
        error = self._error(error)
        t = self._state
        return error * (1 - t**2)
