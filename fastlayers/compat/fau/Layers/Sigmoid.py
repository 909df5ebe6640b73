"""``Sigmoid``."""

import numpy as np

from .Base import KeepingLayer

__all__ = ["Sigmoid"]


def sigmoid(x):
    """Logistic function, written with tanh so that no exp overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Sigmoid(KeepingLayer):
    """``1 / (1 + exp(-x))``; keeps its output as ``activation`` for the backward pass."""

    name = "Sigmoid"
    kept = "activation"

    def _forward(self, x):
        y = sigmoid(x)
        return y, y

    def _backward(self, error, y):
        return error * y * (1.0 - y)
