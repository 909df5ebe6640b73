"""Element-wise activation functions."""

import numpy as np

from .. import functional as F
from .._validation import as_float_array, called_before, check_empty_axes, check_shape
from ..base import BaseLayer


class _Activation(BaseLayer):
    """What ``backward`` needs is kept privately: the arrays handed to the
    caller are theirs to modify without changing any gradient."""

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

    def forward(self, x):
        x = as_float_array(x, self.name)
        check_empty_axes(x, self.name)
        # Where the output is positive, as a private boolean mask: an
        # eighth of the memory of a copy of the output in float64.
        out, self._kept = F.relu(x, return_mask=True, caller=self.name)
        self._dtype = out.dtype
        return out

    def backward(self, error):
        error = self._check_error(error).astype(self._dtype, copy=False)
        return F.relu_backward(error, self._kept, caller=self.name)


class Sigmoid(_Activation):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow."""

    def forward(self, x):
        # Imported here: scipy.special adds a tenth of a second to every
        # start of a program that imports fastlayers, most of which never
        # use a sigmoid.
        from scipy.special import expit

        x = as_float_array(x, self.name)
        check_empty_axes(x, self.name)
        self._kept = expit(x)
        return self._kept.copy()

    def backward(self, error):
        error = self._check_error(error)
        s = self._kept
        return error * s * (1 - s)


class TanH(_Activation):
    """Hyperbolic tangent."""

    def forward(self, x):
        x = as_float_array(x, self.name)
        check_empty_axes(x, self.name)
        self._kept = np.tanh(x)
        return self._kept.copy()

    def backward(self, error):
        error = self._check_error(error)
        t = self._kept
        return error * (1 - t * t)
