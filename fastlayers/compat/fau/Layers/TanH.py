"""``TanH``."""

import numpy as np

from .Base import KeepingLayer

__all__ = ["TanH"]


class TanH(KeepingLayer):
    """``tanh(x)``; keeps its output as ``activation`` for the backward pass."""

    name = "TanH"
    kept = "activation"

    def _forward(self, x):
        y = np.tanh(x)
        return y, y

    def _backward(self, error, y):
        return error * (1.0 - y**2)
