"""``Sigmoid``."""

import numpy as np

from ... import _common
from .Base import BaseLayer

__all__ = ["Sigmoid"]


def sigmoid(x):
    """Logistic function, written with tanh so that no exp overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Sigmoid(BaseLayer):
    """``1 / (1 + exp(-x))``; keeps its output as ``activation`` for the backward pass."""

    def __init__(self):
        super().__init__()
        self.activation = None

    def forward(self, input_tensor):
        self.activation = sigmoid(_common.as_float(input_tensor, "Sigmoid"))
        return self.activation

    def backward(self, error_tensor):
        error = _common.checked_error(error_tensor, self.activation, "Sigmoid")
        y = self.activation
        return error * y * (1.0 - y)
