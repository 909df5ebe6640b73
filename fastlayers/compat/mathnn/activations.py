"""Activation functions: ``evaluate(z)`` keeps what ``backprop(delta)`` needs.

``factor`` scales the initial weights of a layer using the activation
(sqrt(2) for ReLU, as He et al.; 1 for the others).
"""

import numpy as np

from ... import functional as F
from .._common import as_float

__all__ = ["Identity", "ReLU", "Sigmoid", "TanH", "SoftMax"]


class _Activation:
    factor = 1.0

    def __init__(self):
        self.a = None

    def _stored(self):
        if self.a is None:
            raise RuntimeError(f"{type(self).__name__}: backprop called before evaluate")
        return self.a


class Identity(_Activation):
    """``a(z) = z``."""

    def evaluate(self, z):
        self.a = as_float(z, "Identity", "z")
        return self.a

    def backprop(self, delta):
        self._stored()
        return as_float(delta, "Identity", "delta")


class ReLU(_Activation):
    """``a(z) = max(z, 0)``; ``a'(z) = 1`` where ``z > 0``."""

    factor = np.sqrt(2.0)

    def evaluate(self, z):
        self.a = F.relu(as_float(z, "ReLU", "z"), caller="ReLU")
        return self.a

    def backprop(self, delta):
        return F.relu_backward(as_float(delta, "ReLU", "delta"), self._stored(), caller="ReLU")


class Sigmoid(_Activation):
    """``a(z) = 1 / (1 + exp(-z))``."""

    def evaluate(self, z):
        self.a = 0.5 * (1.0 + np.tanh(0.5 * as_float(z, "Sigmoid", "z")))
        return self.a

    def backprop(self, delta):
        a = self._stored()
        return as_float(delta, "Sigmoid", "delta") * a * (1.0 - a)


class TanH(_Activation):
    """``a(z) = tanh(z)``."""

    def evaluate(self, z):
        self.a = np.tanh(as_float(z, "TanH", "z"))
        return self.a

    def backprop(self, delta):
        a = self._stored()
        return as_float(delta, "TanH", "delta") * (1.0 - a * a)


class SoftMax(_Activation):
    """Row-wise softmax of (n, classes); ``backprop`` is the exact Jacobian product."""

    def evaluate(self, z):
        z = as_float(z, "SoftMax", "z")
        e = np.exp(z - np.max(z, axis=-1, keepdims=True))
        self.a = e / np.sum(e, axis=-1, keepdims=True)
        return self.a

    def backprop(self, delta):
        a = self._stored()
        delta = as_float(delta, "SoftMax", "delta")
        return a * (delta - np.sum(delta * a, axis=-1, keepdims=True))
