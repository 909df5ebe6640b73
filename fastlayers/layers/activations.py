"""Element-wise activation functions."""

import numpy as np
from scipy.special import expit

from .. import kernels
from ..kernels.activation import PARALLEL_MIN
from ..parallel import serialised
from .._validation import as_float_array, called_before, check_shape, kernel_ready
from ..base import BaseLayer


class _Activation(BaseLayer):
    def __init__(self):
        super().__init__()
        self._kept = None

    def _check_error(self, error):
        called_before(self._kept, self.name)
        error = as_float_array(error, self.name, "error")
        check_shape(error, self._kept.shape, self.name, "error")
        return error


class ReLU(_Activation):
    """Rectified linear unit ``max(x, 0)``; its subgradient at 0 is 0.

    NaN inputs stay NaN in the output (and get zero gradient), so a
    diverging network shows it instead of hiding it.
    """

    @serialised
    def forward(self, x):
        x = as_float_array(x, self.name)
        x = kernel_ready(x, x.dtype)
        out = np.empty_like(x)
        # Large arrays (a conv layer's output) split over the threads.
        relu = kernels.relu_forward_parallel if x.size >= PARALLEL_MIN else kernels.relu_forward
        relu(x.reshape(-1), out.reshape(-1))
        self._kept = out  # positive exactly where the input was
        return out

    @serialised
    def backward(self, error):
        error = kernel_ready(self._check_error(error), self._kept.dtype)
        out = np.empty_like(error)
        relu = kernels.relu_backward_parallel if error.size >= PARALLEL_MIN else kernels.relu_backward
        relu(self._kept.reshape(-1), error.reshape(-1), out.reshape(-1))
        return out


class Sigmoid(_Activation):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow."""

    def forward(self, x):
        x = as_float_array(x, self.name)
        self._kept = expit(x)
        return self._kept

    def backward(self, error):
        error = self._check_error(error)
        s = self._kept
        return error * s * (1 - s)


class TanH(_Activation):
    """Hyperbolic tangent."""

    def forward(self, x):
        x = as_float_array(x, self.name)
        self._kept = np.tanh(x)
        return self._kept

    def backward(self, error):
        error = self._check_error(error)
        t = self._kept
        return error * (1 - t * t)
